#!/bin/sh
# The live comparison of RandAugment's operations: make_goldens.py --large under a Python with MMPretrain
# writes a fresh reference set (the committed cases and random ones on larger images), and the unit test
# test_data_randaug checks tgc against it. Without MMPretrain it is skipped (77), also under CI=true: CI has
# no MMPretrain, and the committed set is checked by unit/test_data_randaug either way.
# Usage: live.sh PYTHON TEST_BINARY OUTDIR
py="$1" bin="$2" out="$3"
if [ -z "$py" ] || ! "$py" -c "import mmpretrain" >/dev/null 2>&1; then
    echo "skipped: MMPretrain not installed (configure with -DTGC_MMPRETRAIN_PYTHON=a python that imports mmpretrain)"
    exit 77
fi
here=$(dirname "$0")
mkdir -p "$out" || exit 1
if ! "$py" "$here/make_goldens.py" "$out" --large >"$out/make_goldens.log" 2>&1; then
    cat "$out/make_goldens.log"
    exit 1
fi
grep -v -i warn "$out/make_goldens.log"
TGC_RANDAUG_GOLDEN_DIR="$out" CK_RUN_SUITE=data_randaug CK_RUN_CASE=core "$bin"
