# tests/dist/lib.sh - shared setup of the multi-process tests (sourced): arguments, dataset check, free
# ports, LeNet5 plans for batch 64 (per worker) and 128 (one worker), and small-run options.
# Usage of every test: NAME.sh TGC SOURCE_DIR OUT_DIR
set -eu
TGC=$1
SRC=$2
OUT=$3
DATA=${TGC_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
export OMP_WAIT_POLICY=passive
# One thread per worker: 2 workers fill a 2-core machine, and deterministic runs compare bit for bit
# only at equal thread counts. A rendezvous that cannot complete fails in 20 s, not 300.
export OMP_NUM_THREADS=1
export TGC_DIST_TIMEOUT=${TGC_DIST_TIMEOUT:-20}
unset NNODES NODE_RANK MASTER_ADDR PORT MASTER_PORT RANK LOCAL_RANK WORLD_SIZE TGC_JOB_TOKEN

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

# A TCP port nothing listens on now (the kernel's choice of a free ephemeral port).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The launcher's worker pids (its children) and the one of a given rank.
workers() { pgrep -P "$1" || true; }
worker_of_rank() {
    for p in $(workers "$1"); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "RANK=$2"; then echo "$p"; fi
    done
}
# Background launchers of the test: on exit (a failed check included) they and their workers are killed.
BG=""
bg_track() { BG="$BG $1"; }
cleanup() {
    for l in $BG; do
        for p in $(pgrep -P "$l" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        kill -KILL "$l" 2>/dev/null || true
    done
}
trap cleanup EXIT
# Waits until FILE matches a pattern (at most ~30 s).
wait_for() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        [ $i -lt 3000 ] || fail "'$2' never appeared in $1: $(tail -3 "$1")"
        sleep 0.01
        i=$((i + 1))
    done
}

"$TGC" compile "$SRC/configs/fashion/lenet5_fashionmnist.yaml" -o b64.bin --cfg-options train_dataloader.batch_size=64 \
    val_dataloader.batch_size=64 >/dev/null 2>&1 || fail "compile"
"$TGC" compile "$SRC/configs/fashion/lenet5_fashionmnist.yaml" -o b128.bin >/dev/null 2>&1 || fail "compile"
DATAOPTS="train_dataloader.dataset.data_prefix=$DATA val_dataloader.dataset.data_prefix=$DATA"
