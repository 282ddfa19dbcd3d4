#!/bin/bash
# tests/data/resample/live.sh PYTHON WARP_TEST RESAMPLE_TEST WORKDIR - tgc's warping and resizing against mmcv,
# live: make_goldens.py (run by PYTHON, which has MMPretrain and so mmcv, opencv and Pillow) writes the committed
# set and a larger random one into WORKDIR, and the two unit tests compare tgc with them (TGC_GOLDEN_DIR).
# Without such a Python the comparison is skipped (status 77), also under CI=true: it is optional, the
# committed reference files are checked by the unit tests always.
set -u
py=$1 warp=$2 resample=$3 work=$4
if [ -z "$py" ] || ! "$py" -c 'import mmpretrain, mmcv, cv2, PIL' >/dev/null 2>&1; then
    echo "skipped: MMPretrain not installed (configure with -DTGC_MMPRETRAIN_PYTHON=PYTHON to compare with mmcv)"
    exit 77
fi
rm -rf "$work" && mkdir -p "$work" || exit 1
"$py" "$(dirname "$0")/make_goldens.py" "$work" --large || { echo "make_goldens.py failed"; exit 1; }
TGC_GOLDEN_DIR=$work "$warp" || exit 1
TGC_GOLDEN_DIR=$work "$resample" || exit 1
