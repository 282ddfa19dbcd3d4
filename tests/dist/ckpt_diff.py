#!/usr/bin/env python3
"""tests/dist/ckpt_diff.py - compares the f32 tensors of two tgc checkpoints (runtime/io/checkpoint.h layout).

usage: ckpt_diff.py A.ckpt B.ckpt [--prefix NAME_PREFIX ...] [--max-rel X] [--exact]
Prints the largest relative difference (|a - b| / (max |a| + 1e-12), per tensor) and exits 1 when it is over
--max-rel (or, with --exact, when any byte differs), 2 when the files cannot be read or their tensors differ
in names or shapes.
"""
import argparse
import struct
import sys


def read_ckpt(path):
    data = open(path, "rb").read()
    if data[:8] != b"TGCCKPT\0":
        sys.exit("%s: not a tgc checkpoint" % path)
    n_tensors = struct.unpack_from("<I", data, 16)[0]
    pos = 64

    def u32():
        nonlocal pos
        v = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        return v

    def string():
        nonlocal pos
        n = u32()
        s = data[pos:pos + n].decode()
        pos += n
        return s

    for _ in range(u32()):  # meta entries: key, kind, value
        string()
        kind = data[pos]
        pos += 1
        if kind in (1, 2):
            pos += 8
        else:
            string()
    tensors = {}
    for _ in range(n_tensors):
        name = string()
        dtype, rank = u32(), u32()
        dims = struct.unpack_from("<%dq" % rank, data, pos)
        pos += 8 * rank
        off, nbytes = struct.unpack_from("<QQ", data, pos)
        pos += 16
        tensors[name] = (dtype, dims, data[off:off + nbytes])
    return tensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--prefix", action="append", default=[])
    ap.add_argument("--max-rel", type=float, default=1e-4)
    ap.add_argument("--exact", action="store_true")
    o = ap.parse_args()
    ta, tb = read_ckpt(o.a), read_ckpt(o.b)
    if sorted(ta) != sorted(tb):
        print("tensor names differ")
        sys.exit(2)
    worst, worst_name = 0.0, ""
    for name in sorted(ta):
        if o.prefix and not any(name.startswith(p) for p in o.prefix):
            continue
        (da, sa, ba), (db, sb, bb) = ta[name], tb[name]
        if (da, sa) != (db, sb):
            print("%s: dtype/shape differ" % name)
            sys.exit(2)
        if o.exact:
            if ba != bb:
                print("%s differs" % name)
                sys.exit(1)
            continue
        n = len(ba) // 4
        va, vb = struct.unpack("<%df" % n, ba), struct.unpack("<%df" % n, bb)
        scale = max(max(abs(x) for x in va), 1e-12)
        rel = max(abs(x - y) for x, y in zip(va, vb)) / scale
        if rel > worst:
            worst, worst_name = rel, name
    if o.exact:
        print("identical")
        return
    print("max relative difference %.3g (%s)" % (worst, worst_name or "-"))
    sys.exit(1 if worst > o.max_rel else 0)


if __name__ == "__main__":
    main()
