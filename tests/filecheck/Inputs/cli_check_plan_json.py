"""Checks invariants of `tgc inspect --json` output read from stdin (used by cli_compile_resnet.test).

Buckets follow PyTorch DDP: a gradient joins the open bucket, which closes once it has reached its cap (FIRST
MiB for the first, CAP MiB for the others), so every bucket but the last has reached its cap; they tile the
GRAD slab; every parameter's gradient is in exactly one bucket.
Usage: cli_check_plan_json.py FIRST_MIB CAP_MIB EXPECTED_PARAMS
"""
import json
import sys

first_mib, cap_mib, params = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
plan = json.load(sys.stdin)
assert plan["params"] == params, plan["params"]
buckets = plan["buckets"]
assert buckets, "no buckets"
offset = 0
seen = set()
for i, b in enumerate(buckets):
    cap = (first_mib if i == 0 else cap_mib) * 1048576
    assert b["offset"] == offset, (i, b["offset"], offset)
    assert i == len(buckets) - 1 or b["bytes"] >= cap, (i, b["bytes"], cap)
    offset += b["bytes"]
    for p in b["params"]:
        assert p not in seen, p
        seen.add(p)
assert offset == plan["memory"]["slabs"]["grad"], (offset, plan["memory"]["slabs"])
m = plan["memory"]
assert m["lower_bound_bytes"] <= m["arena_bytes"] <= m["naive_bytes"], m
assert m["arena_bytes"] == max(m["train"]["arena_bytes"], m["eval"]["arena_bytes"]), m
print("ok: %d buckets, %d gradients" % (len(buckets), len(seen)))
