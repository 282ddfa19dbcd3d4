#!/usr/bin/env bash
# tools/setup.sh - installs the Debian packages tgc needs to build, test and train, only those missing.
# Idempotent: a second run installs nothing. The CUDA toolkit (nvcc, cuDNN, cuBLAS, NCCL, NVRTC) is
# expected where NVIDIA installs it (/usr/local/cuda); without it tgc builds the CPU backend only.
set -euo pipefail

packages=(
  build-essential cmake pkg-config   # toolchain
  libyaml-dev                        # config files
  zlib1g-dev                         # checksums, gzipped datasets
  libdnnl-dev                        # oneDNN: CPU convolution, batch norm, pooling, matmul
  ocl-icd-opencl-dev opencl-headers  # required by Debian's oneDNN CMake package config
  libjpeg62-turbo-dev libpng-dev     # image datasets
  libgloo-dev                        # Gloo: collectives between CPU processes (pulls hiredis, ibverbs)
  check                              # unit tests
  llvm-14-tools                      # FileCheck and lit for IR tests
  python3                            # runs lit
  python3-torch python3-numpy        # numerics tests: whole train steps against PyTorch
  dataset-fashion-mnist              # the default config's data (/usr/share/datasets/fashion-mnist)
  slurm-wlm munge                    # tests/dist/slurm.sh runs tools/slurm_train.sh under a real slurm
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} Debian packages present"
else
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# TensorBoard's own event reader checks the event files tgc writes (Debian does not package TensorBoard;
# it comes from PyPI into the python3 on PATH). Without it that one check prints 'skipped'.
if ! python3 -c 'import tensorboard' 2>/dev/null; then
  echo "setup: installing tensorboard (PyPI) for the event-file reader test"
  python3 -m pip install -q --disable-pip-version-check tensorboard==2.21.0 ||
    echo "setup: could not install tensorboard; the TensorBoard reader test will be skipped"
fi
