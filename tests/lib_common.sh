# tests/lib_common.sh - the setup every shell test shares (sourced by tests/dist/lib.sh and tests/e2e/lib.sh):
# arguments, fail, the dataset check (skip, status 77, without it) and a fresh OUT_DIR as the working folder.
# Usage of every test: NAME.sh TGC SOURCE_DIR OUT_DIR
set -eu
TGC=$1
SRC=$2
OUT=$3
DATA=${TGC_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

if [ ! -e "$DATA/train-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/train-images-idx3-ubyte" ]; then
    echo "skipped: Fashion-MNIST is not in $DATA (install Debian's dataset-fashion-mnist or set TGC_FASHION_MNIST)"
    exit 77
fi
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"
