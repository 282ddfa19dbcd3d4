#!/usr/bin/env bash
# tools/dist_train.sh CONFIG GPU_NUM [ARGS] - MMPretrain's / MMDetection's dist_train.sh on tools/train.py (so
# ARGS are either tool's train.py flags) and `tgc train`: GPU_NUM workers on this node, NNODES / NODE_RANK /
# PORT / MASTER_ADDR for several nodes (defaults 1, 0, 29500, 127.0.0.1). With a GPU visible it starts one
# worker per GPU (tgc's --gpus); on a CPU-only machine (or with CUDA_VISIBLE_DEVICES=-1) it starts GPU_NUM
# CPU workers (--nproc GPU_NUM --device cpu) and says so. TGC names the tgc executable (default: tgc on
# PATH, else build/tgc next to this script); PYTHON the interpreter for train.py (default python3).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPU_NUM [ARGS]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
export NNODES=${NNODES:-1}
export NODE_RANK=${NODE_RANK:-0}
export PORT=${PORT:-29500}
export MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
TGC=${TGC:-$(command -v tgc || echo "$(dirname "$0")/../build/tgc")}
export TGC
PYTHON=${PYTHON:-python3}

gpu_visible() {
    [ "${CUDA_VISIBLE_DEVICES:-}" != "-1" ] && command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'
}
if gpu_visible; then
    exec "$PYTHON" "$(dirname "$0")/train.py" "$CONFIG" --launch-gpus "$GPUS" "${@:3}"
fi
echo "dist_train.sh: no GPU visible: starting $GPUS CPU workers (--nproc $GPUS --device cpu)" >&2
exec "$PYTHON" "$(dirname "$0")/train.py" "$CONFIG" --nproc "$GPUS" --device cpu "${@:3}"
