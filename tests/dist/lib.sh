# tests/dist/lib.sh - shared setup of the multi-process tests (sourced): arguments, dataset check, free
# ports, LeNet5 plans for batch 64 (per worker) and 128 (one worker), and small-run options.
# Usage of every test: NAME.sh TGC SOURCE_DIR OUT_DIR
. "$(dirname "$0")/../lib_common.sh"
export OMP_WAIT_POLICY=passive
# One thread per worker: 2 workers fill a 2-core machine, and deterministic runs compare bit for bit
# only at equal thread counts. A rendezvous that cannot complete fails in 20 s, not 300.
export OMP_NUM_THREADS=1
export TGC_DIST_TIMEOUT=${TGC_DIST_TIMEOUT:-20}
unset NNODES NODE_RANK MASTER_ADDR PORT MASTER_PORT RANK LOCAL_RANK WORLD_SIZE TGC_JOB_TOKEN

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
