"""Writes a copy of a plan.bin whose first nhwc tensor says row (cli_layout.test): the TENSORS section is
walked as plan/plan_io.c writes it, the layout byte changed and the CRC-32 recomputed, so only
tgc_plan_validate's layout rules can refuse the result.
Usage: plan_set_layout.py IN OUT
"""
import struct
import sys
import zlib

src, dst = sys.argv[1:3]
d = bytearray(open(src, "rb").read())
n_sec = struct.unpack_from("<I", d, 12)[0]
tensors = None
for i in range(n_sec):
    kind, _, off, _ = struct.unpack_from("<IIQQ", d, 64 + 24 * i)
    if kind == 3:
        tensors = off
assert tensors is not None, "no TENSORS section"


def skip_str(p):
    n = struct.unpack_from("<I", d, p)[0]
    return p + 4 + (0 if n == 0xFFFFFFFF else n)


n = struct.unpack_from("<I", d, tensors)[0]
p = tensors + 4
for _ in range(n):
    p = skip_str(p)                      # name
    layout = p + 2                       # kind, dtype, layout, slab
    if d[layout] == 1:
        d[layout] = 0
        break
    rank = d[p + 4]
    p += 5 + 8 * rank + 8 + 8 + 1 + 32   # dims, offset, bytes, init kind, a, b, lo, hi
    p = skip_str(p)                      # init desc
    p += 4 + 16                          # grad_of, lr_mult, decay_mult
else:
    sys.exit("no nhwc tensor in " + src)
d[24:28] = b"\0" * 4
d[24:28] = struct.pack("<I", zlib.crc32(bytes(d)))
open(dst, "wb").write(d)
