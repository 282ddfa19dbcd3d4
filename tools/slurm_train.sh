#!/usr/bin/env bash
# tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [ARGS] - MMPretrain's slurm_train.sh on
# tools/train.py (ARGS are its flags) and `tgc train`: srun starts GPUS tasks (GPUS_PER_NODE per node, CPUS_PER_TASK cores each) and every task
# is one worker (--launcher slurm: SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST; the master is the first
# node of the list, PORT/MASTER_PORT 29500). Defaults GPUS=8, GPUS_PER_NODE=8, CPUS_PER_TASK=5;
# SRUN_ARGS are passed to srun. GRES (default gpu:GPUS_PER_NODE) is the --gres request; on a CPU
# cluster set GRES= (empty) and pass --device cpu in ARGS. TGC names the tgc executable, PYTHON the
# interpreter for train.py (default python3).
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [ARGS]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
GRES=${GRES-gpu:${GPUS_PER_NODE}}
TGC=${TGC:-$(command -v tgc || echo "$(dirname "$0")/../build/tgc")}
export TGC
PYTHON=${PYTHON:-python3}
if [ -n "${PORT:-}" ] && [ -z "${MASTER_PORT:-}" ]; then export MASTER_PORT=$PORT; fi

gres=()
if [ -n "$GRES" ]; then gres=(--gres="$GRES"); fi
# shellcheck disable=SC2086
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    "${gres[@]}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" "$(dirname "$0")/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher slurm "${@:5}"
