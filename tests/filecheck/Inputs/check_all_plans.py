"""Compiles every shipped config (configs/**/*.yaml outside _base_) and checks its plan (plan_check_configs.test).

`tgc compile` runs verify-plan and `tgc inspect` runs tgc_plan_validate on the loaded file (no two live arena
tensors overlap, every tensor in its slab, every gradient in its bucket); on top of that this checks what the
summary promises: lower bound <= arena <= naive sum per program and overall, the arena is the largest
program's and is the arena slab, portrait programs (two-orientation detection plans) match train and eval, buckets tile the grad slab, param and grad slabs hold every parameter,
optimizer state is sized by the optimizer, and the compiler's own summary line agrees with the loaded plan.
Usage: check_all_plans.py TGC CONFIGS_DIR WORK_DIR
"""
import glob
import json
import os
import re
import subprocess
import sys

tgc, configs, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
paths = sorted(p for p in glob.glob(os.path.join(configs, "**", "*.yaml"), recursive=True)
               if "_base_" not in os.path.relpath(p, configs).split(os.sep))
assert len(paths) >= 8, "too few configs found under %s: %s" % (configs, paths)
# Optimizer state per parameter, in parameter slabs: SGD keeps a momentum buffer when momentum > 0.
STATE = {"SGD": lambda o: 1 if o.get("momentum", 0) else 0, "AdamW": lambda o: 3 if o.get("amsgrad") else 2}


def mib(b):
    return "%.2f MiB" % (b / 1048576.0)


failed = 0
for path in paths:
    name = os.path.relpath(path, configs)
    plan = os.path.join(work, name.replace(os.sep, "_") + ".bin")
    try:
        c = subprocess.run([tgc, "compile", path, "-o", plan], capture_output=True, text=True)
        assert c.returncode == 0, "compile failed: " + c.stderr.strip()
        i = subprocess.run([tgc, "inspect", "--json", plan], capture_output=True, text=True)
        assert i.returncode == 0, "inspect (tgc_plan_validate) failed: " + i.stderr.strip()
        p = json.loads(i.stdout)
        m, slabs = p["memory"], p["memory"]["slabs"]
        progs = p["programs"]
        # a detection config batched by AspectRatioBatchSampler on a canvas that is not square also carries
        # the portrait programs: inputs on the transposed canvas, the same buckets as train
        assert set(progs) in ({"train", "eval"}, {"train", "eval", "train_portrait", "eval_portrait"}), list(progs)
        for pname in [k for k in progs if k.endswith("_portrait")]:
            base, var = progs[pname[:-len("_portrait")]], progs[pname]
            assert [b["params"] for b in var["buckets"]] == [b["params"] for b in base["buckets"]], pname
            assert [(b["offset"], b["bytes"]) for b in var["buckets"]] == \
                [(b["offset"], b["bytes"]) for b in base["buckets"]], pname
            shapes = [(t["name"].split("/", 1)[1], t["shape"]) for t in base["inputs"]]
            want = [(n, s[:2] + [s[3], s[2]] if n == "inputs" else s) for n, s in shapes]
            assert [(t["name"].split("/", 1)[1], t["shape"]) for t in var["inputs"]] == want, pname
        for pname in progs:
            pm = progs[pname]["memory"]
            assert 0 < pm["lower_bound_bytes"] <= pm["arena_bytes"] <= pm["naive_bytes"], (pname, pm)
        assert m["lower_bound_bytes"] <= m["arena_bytes"] <= m["naive_bytes"], m
        assert m["arena_bytes"] == max(progs[k]["memory"]["arena_bytes"] for k in progs), m
        assert slabs["arena"] == m["arena_bytes"], (slabs, m)
        # frozen parameters (frozen_stages) have no gradient and no optimizer state
        frozen = p["trainable_params"] < p["params"]
        assert slabs["param"] >= 4 * p["params"] and slabs["grad"] >= 4 * p["trainable_params"], (slabs, p["params"])
        offset, seen = 0, set()
        for k, b in enumerate(p["buckets"]):
            assert b["offset"] == offset and b["bytes"] > 0, (k, b["offset"], offset)
            offset += b["bytes"]
            assert not seen & set(b["params"]), k
            seen |= set(b["params"])
        assert offset == slabs["grad"], ("buckets do not tile the grad slab", offset, slabs["grad"])
        opt = p["optimizer"]
        assert opt["type"] in STATE, opt
        if frozen:
            assert slabs["optstate"] < STATE[opt["type"]](opt) * slabs["param"], (opt, slabs)
        else:
            assert slabs["optstate"] == STATE[opt["type"]](opt) * slabs["param"], (opt, slabs)
        # The compile summary ("arena X MiB (lower bound Y MiB, naive Z MiB)") describes this same plan.
        s = re.search(r"(\d+) params, .* arena ([\d.]+ MiB) \(lower bound ([\d.]+ MiB), naive ([\d.]+ MiB)\)",
                      c.stderr + c.stdout)
        assert s, "no summary line: " + c.stderr
        assert int(s.group(1)) == p["params"], (s.group(1), p["params"])
        assert s.group(2, 3, 4) == (mib(m["arena_bytes"]), mib(m["lower_bound_bytes"]), mib(m["naive_bytes"])), \
            (s.group(0), m)
        print("ok %s: arena %d, lower bound %d, naive %d, %d buckets" %
              (name, m["arena_bytes"], m["lower_bound_bytes"], m["naive_bytes"], len(p["buckets"])))
    except AssertionError as e:
        failed += 1
        print("FAIL %s: %s" % (name, e))
print("%d plans checked, %d failed" % (len(paths), failed))
sys.exit(1 if failed else 0)
