# Reads `tgc inspect` text on stdin; prints how many @slab+offset operands it lists and whether all are
# multiples of argv[1] (and how many are not multiples of 256).
import re
import sys

align = int(sys.argv[1])
offs = [int(m) for m in re.findall(r"@[a-z]+\+([0-9]+)", sys.stdin.read())]
bad = [o for o in offs if o % align]
if not offs or bad:
    print(f"{len(offs)} offsets, {len(bad)} not multiples of {align}: {bad[:5]}")
    sys.exit(1)
line = f"{len(offs)} offsets, all multiples of {align}"
if align < 256:
    line += f", {sum(1 for o in offs if o % 256)} not of 256"
print(line)
