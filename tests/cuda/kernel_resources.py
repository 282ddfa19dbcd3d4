#!/usr/bin/env python3
"""tests/cuda/kernel_resources.py PTXAS_LOG KERNEL_DIR [--arch sm_90]

Checks ptxas's -v report of the hand-written kernels (written by backend/cuda/kernels/ptxas_log.sh while
tgc_cuda_kernels compiles): every kernel declared with TGC_KERNEL in KERNEL_DIR/*.cuh was compiled for the
architecture, none other, and none has a stack frame or spills. Prints each kernel's registers, barriers and
shared memory, and the totals. No GPU needed."""
import argparse
import glob
import os
import re
import sys


def declared(kernel_dir):
    names = set()
    for path in sorted(glob.glob(os.path.join(kernel_dir, "*.cuh"))):
        with open(path) as f:
            for m in re.finditer(r"^TGC_KERNEL\((\w+),", f.read(), re.M):
                names.add(m.group(1))
    return names


def parse(log, arch):
    """{kernel: {regs, stack, spill_st, spill_ld, barriers, smem}} for entry functions compiled for arch."""
    kernels, cur, props_of = {}, None, None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)' for '(\w+)'", line)
        if m:
            cur = m.group(1) if m.group(2) == arch else None
            if cur:
                kernels[cur] = {}
            continue
        m = re.search(r"Function properties for (\w+)", line)
        if m:
            props_of = m.group(1)
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and props_of in kernels:
            kernels[props_of].update(stack=int(m.group(1)), spill_st=int(m.group(2)), spill_ld=int(m.group(3)))
            continue
        m = re.search(r"Used (\d+) registers, used (\d+) barriers(?:, (\d+) bytes smem)?", line)
        if m and cur:
            kernels[cur].update(regs=int(m.group(1)), barriers=int(m.group(2)), smem=int(m.group(3) or 0))
    return kernels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("kernel_dir")
    ap.add_argument("--arch", default="sm_90")
    args = ap.parse_args()
    if not os.path.exists(args.log):
        print(f"FAIL: {args.log} is missing: build tgc_cuda_kernels first")
        return 1
    with open(args.log) as f:
        log = f.read()
    want = declared(args.kernel_dir)
    got = parse(log, args.arch)
    errors = []
    if not want:
        errors.append(f"no TGC_KERNEL declarations found in {args.kernel_dir}/*.cuh")
    for k in sorted(want - set(got)):
        errors.append(f"{k}: declared but not compiled for {args.arch}")
    for k in sorted(set(got) - want):
        errors.append(f"{k}: compiled but not declared with TGC_KERNEL")
    print(f"{'kernel':32} {'regs':>5} {'stack':>6} {'spill st':>9} {'spill ld':>9} {'barriers':>9} {'smem':>6}")
    for k in sorted(got):
        r = got[k]
        if "regs" not in r or "stack" not in r:
            errors.append(f"{k}: ptxas reported no registers or no function properties")
            continue
        print(f"{k:32} {r['regs']:5} {r['stack']:6} {r['spill_st']:9} {r['spill_ld']:9} {r['barriers']:9} {r['smem']:6}")
        if r["spill_st"] or r["spill_ld"]:
            errors.append(f"{k}: {r['spill_st']} bytes spill stores, {r['spill_ld']} bytes spill loads")
        if r["stack"]:
            errors.append(f"{k}: {r['stack']} bytes stack frame")
    ok = [r for r in got.values() if "regs" in r]
    spills = sum(r.get("spill_st", 0) + r.get("spill_ld", 0) for r in ok)
    regs = [r["regs"] for r in ok]
    print(f"{len(got)} kernels compiled for {args.arch} ({len(want)} declared); spill bytes in total {spills}; "
          f"registers {min(regs) if regs else 0}..{max(regs) if regs else 0}")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
