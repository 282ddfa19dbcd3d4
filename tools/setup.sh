#!/usr/bin/env bash
# tools/setup.sh - installs the Debian packages tgc needs to build, test and train, only those missing.
# Idempotent: a second run installs nothing. The CUDA toolkit (nvcc, cuDNN, cuBLAS, NCCL, NVRTC) is
# expected where NVIDIA installs it (/usr/local/cuda); without it tgc builds the CPU backend only.
# TensorBoard and pycocotools, which Debian does not package, go into a virtual environment of the
# repository's own, .venv/ (git-ignored), from PyPI: see the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake pkg-config   # toolchain
  libyaml-dev                        # config files
  zlib1g-dev                         # checksums, gzipped datasets
  libdnnl-dev                        # oneDNN: CPU convolution, batch norm, pooling, matmul
  ocl-icd-opencl-dev opencl-headers  # required by Debian's oneDNN CMake package config
  libjpeg62-turbo-dev libpng-dev     # image datasets
  libzip-dev                         # PyTorch .pth checkpoints (zip archives)
  libcjson-dev                       # COCO annotation files (JSON)
  libgloo-dev                        # Gloo: collectives between CPU processes (pulls hiredis, ibverbs)
  check                              # unit tests
  llvm-14-tools                      # FileCheck and lit for IR tests
  clang libclang-rt-14-dev           # libFuzzer (tools/fuzz.sh, the fuzz/libfuzzer test)
  python3                            # runs lit
  python3-venv                       # the virtual environment .venv that holds TensorBoard (below)
  python3-torch python3-numpy        # numerics tests: whole train steps against PyTorch
  python3-torchvision                # numerics tests: the detection ops against torchvision.ops
  python3-pil                        # tests/datasets/fixtures.py writes the dataset tests' JPEG/PNG images
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

# TensorBoard's own event reader checks the event files tgc writes (unit/test_rt_tensorboard and
# e2e/run_basic, through tests/filecheck/Inputs/tb_read.py), and pycocotools is the reference the C COCO
# evaluator is compared with (det/coco_vs_pycocotools). Debian packages neither and its python3 is externally
# managed (pip refuses to install into it), so they come from PyPI (with numpy, which both need) into a
# virtual environment of Debian's python3 at .venv/ in the repository (git-ignored). CMake passes
# .venv/bin/python3 to those tests as TGC_TB_PYTHON. Without it they are reported skipped (status 77);
# under CI=true they fail, and so does this step.
venv_pins=(tensorboard==2.21.0 pycocotools==2.0.11)
venv=$root/.venv
host_python=/usr/bin/python3
[ -x "$host_python" ] || host_python=python3
under_ci() { case "${CI:-}" in true | TRUE | True | 1) return 0 ;; esac; return 1; }
venv_ready() { # the pinned versions are installed and the modules the checks use import
  "$venv/bin/python3" - "${venv_pins[@]}" <<'PY' >/dev/null 2>&1
import sys, importlib.metadata
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    assert importlib.metadata.version(name) == version, pin
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from pycocotools.cocoeval import COCOeval
PY
}
if venv_ready; then
  echo "setup: ${venv_pins[*]} present in .venv"
else
  venv_failed() {
    if under_ci; then
      echo "setup: could not install ${venv_pins[*]} into $venv" \
        "(CI=true: the TensorBoard and COCO checks would fail)" >&2
      exit 1
    fi
    echo "setup: could not install ${venv_pins[*]} into $venv; the TensorBoard and COCO checks will be skipped" >&2
  }
  # A venv whose interpreter no longer runs (Debian's python3 upgraded, a copied tree) is made anew.
  if [ -e "$venv" ] && ! "$venv/bin/python3" -c '' 2>/dev/null; then
    echo "setup: $venv is broken; recreating it"
    rm -rf -- "$venv"
  fi
  echo "setup: installing ${venv_pins[*]} (PyPI) into $venv for the event-file reader and COCO checks"
  if { [ -x "$venv/bin/python3" ] || "$host_python" -m venv "$venv"; } &&
    "$venv/bin/python3" -m pip install -q --disable-pip-version-check "${venv_pins[@]}" && venv_ready; then
    echo "setup: ${venv_pins[*]} installed in .venv"
  else
    venv_failed
  fi
fi
