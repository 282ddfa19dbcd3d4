#!/usr/bin/env bash
# tools/quickstart.sh - the main job for a newcomer: set up, build, compile the default config (a small
# ResNet on Fashion-MNIST) into a plan and show what was compiled.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/fashion/resnet_small_fashionmnist.yaml}
name=$(basename "$config" .yaml)
work_dir=work_dirs/$name

tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p "$work_dir"
./build/tgc compile "$config" -o "$work_dir/plan.bin"
./build/tgc inspect "$work_dir/plan.bin" | head -n 40
