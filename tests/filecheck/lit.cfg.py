# lit configuration for tgc's FileCheck tests.
# Substitutions: %tgc (the built binary), %configs (the shipped configs), %inputs (this folder's
# Inputs/), FileCheck and `not` from LLVM 14.
import os
import lit.formats

site = lit_config.params.get("site")
if site is None:
    lit_config.fatal("run through ctest: --param site=BUILD/tests/lit.site.cfg.py is required")
site_vars = {}
exec(open(site).read(), site_vars)

config.name = "tgc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".yaml", ".test", ".ir"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(os.path.dirname(site), "filecheck-out")
llvm_bin = os.path.dirname(site_vars["filecheck"])
config.environment["PATH"] = llvm_bin + os.pathsep + os.environ.get("PATH", "")
config.substitutions.append(("%tgc", site_vars["tgc_bin"]))
config.substitutions.append(("%configs", os.path.join(site_vars["tgc_source_dir"], "configs")))
config.substitutions.append(("%inputs", os.path.join(os.path.dirname(__file__), "Inputs")))
