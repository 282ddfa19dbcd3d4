#!/usr/bin/env python3
"""Reads a TensorBoard event directory with TensorBoard's own EventAccumulator and prints, for the tests:
file_version, then one line per scalar event, "TAG STEP VALUE" (tags sorted, events in step order).

    tb_read.py DIR       read DIR
    tb_read.py --check   only say whether TensorBoard's reader can be imported (status 0, or 77 as below)

Run it with the interpreter of the virtual environment tools/setup.sh makes (.venv/bin/python3, which
CMake passes to the tests as TGC_TB_PYTHON). Exits 77 after printing 'skipped: ...' (the interpreter and
the import error) when tensorboard cannot be imported; the callers decide whether that is a skip or,
under CI=true, a failure."""
import sys

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except Exception as e:  # ImportError, or a broken install (missing protobuf, ...)
    print("skipped: tensorboard is not importable by %s (%s: %s); tools/setup.sh installs it into .venv"
          % (sys.executable, type(e).__name__, e))
    sys.exit(77)

if sys.argv[1:] == ["--check"]:
    import tensorboard
    print("tensorboard", tensorboard.__version__, "in", sys.executable)
    sys.exit(0)

acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
print("file_version", acc.file_version)
for tag in sorted(acc.Tags()["scalars"]):
    for ev in acc.Scalars(tag):
        print(tag, ev.step, repr(ev.value))
