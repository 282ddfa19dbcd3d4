#!/usr/bin/env python3
"""Reads a TensorBoard event directory with TensorBoard's own EventAccumulator and prints, for the tests:
file_version, then one line per scalar event, "TAG STEP VALUE" (tags sorted, events in step order).
Exits 77 after printing 'skipped: tensorboard not installed' when tensorboard cannot be imported."""
import sys

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except Exception:  # ImportError, or a broken install (missing protobuf, ...)
    print("skipped: tensorboard not installed")
    sys.exit(77)

acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
print("file_version", acc.file_version)
for tag in sorted(acc.Tags()["scalars"]):
    for ev in acc.Scalars(tag):
        print(tag, ev.step, repr(ev.value))
