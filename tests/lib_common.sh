# tests/lib_common.sh - the setup every shell test shares (sourced by tests/dist/lib.sh and tests/e2e/lib.sh):
# arguments, fail, skips, the dataset check and a fresh OUT_DIR as the working folder.
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
# Under CI (CI=true: CI services and .ci/run set it) tools/setup.sh has installed every prerequisite, so a
# missing one is a failure there; elsewhere the test is skipped (status 77, SKIP_RETURN_CODE in CMake).
under_ci() {
    case "${CI:-}" in true | TRUE | True | 1) return 0 ;; esac
    return 1
}
missing() {
    under_ci && fail "$* (CI=true: tools/setup.sh installs it, so this fails instead of being skipped)"
    echo "skipped: $*"
    exit 77
}
# The same, but only once the rest of the test has passed: its failures still fail it; then it is
# reported skipped (status 77) instead of passed. (It sets the EXIT trap.)
missing_at_end() {
    under_ci && fail "$* (CI=true: tools/setup.sh installs it, so this fails instead of being skipped)"
    echo "(the test goes on, then is reported skipped: $*)"
    SKIP_REASON=$*
    trap 'st=$?; if [ $st = 0 ]; then echo "skipped: $SKIP_REASON"; exit 77; fi' EXIT
}
# A skip for a reason setup cannot fix (no root): skipped under CI too.
skip() {
    echo "skipped: $*"
    exit 77
}

if [ ! -e "$DATA/train-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/train-images-idx3-ubyte" ]; then
    missing "Fashion-MNIST is not in $DATA (install Debian's dataset-fashion-mnist or set TGC_FASHION_MNIST)"
fi
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"
