#!/bin/sh
# backend/cuda/kernels/ptxas_log.sh LOG COMMAND... - the compiler launcher of tgc_cuda_kernels: runs the
# nvcc command, keeps its whole stderr (ptxas -v's report) in LOG, and passes on everything but that report.
log=$1
shift
"$@" 2>"$log.tmp"
rc=$?
grep -v -e '^ptxas info' -e 'bytes stack frame' "$log.tmp" >&2
mv "$log.tmp" "$log"
exit $rc
