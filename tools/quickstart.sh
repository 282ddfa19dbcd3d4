#!/usr/bin/env bash
# tools/quickstart.sh - the main job for a newcomer: set up, build, compile the default config (a small
# ResNet on Fashion-MNIST from Debian's dataset-fashion-mnist) into a plan, and train it on the CPU
# (10 epochs; MMEngine-style logs, checkpoints and scalars in work_dirs/<config name>).
# Extra arguments go to `tgc run` (e.g. --max-iters 200 for a short look).
set -euo pipefail
cd "$(dirname "$0")/.."
config=configs/fashion/resnet_small_fashionmnist.yaml
work_dir=work_dirs/$(basename "$config" .yaml)

tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p "$work_dir"
./build/tgc compile "$config" -o "$work_dir/plan.bin"
./build/tgc run "$work_dir/plan.bin" --work-dir "$work_dir" "$@"
