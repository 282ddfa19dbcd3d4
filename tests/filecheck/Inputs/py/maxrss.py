#!/usr/bin/env python3
"""maxrss.py LIMIT_MIB CMD... - runs CMD, passes its output through, and fails unless its peak resident
memory stayed under LIMIT_MIB; prints "exit N, peak under LIMIT MiB" (the status itself is the caller's
to check in the printed line)."""
import resource
import subprocess
import sys

limit = int(sys.argv[1])
rc = subprocess.run(sys.argv[2:]).returncode
peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print("exit %d, peak %s %d MiB" % (rc, "under" if peak_mib < limit else "OVER", limit), flush=True)
sys.exit(0 if peak_mib < limit else 1)
