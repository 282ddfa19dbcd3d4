#!/usr/bin/env bash
# tools/gpu_bundle.sh - prepares a CUDA build for a GPU machine that has no package manager: copies the
# shared libraries tgc and the GPU checks link that are not the C library's or CUDA's (oneDNN, libyaml,
# Gloo, libjpeg, libpng, Check and what they pull in) into BUILD_DIR/gpu-libs, where tools/gpu_check.sh
# finds them. CUDA's own libraries are left out: the GPU machine has them (or PyTorch's nvidia-* wheels).
#
#   tools/gpu_bundle.sh [BUILD_DIR]
set -euo pipefail
build=${1:-$(cd "$(dirname "$0")/.." && pwd)/build}
dest=$build/gpu-libs
mkdir -p "$dest"
bins=("$build/tgc" "$build"/tests/test_stream_cuda "$build"/tests/test_cudnn_plan "$build"/tests/test_codegen_nvrtc
      "$build"/tests/test_backend_cuda_kernels "$build"/tests/tgc_gpu_exec_check)
for b in "${bins[@]}" "$build"/tests/test_*; do
    [ -x "$b" ] || continue
    ldd "$b" 2>/dev/null | awk '$3 ~ /^\// {print $3}'
done | sort -u | while read -r lib; do
    case $(basename "$lib") in
    libc.so* | libm.so* | libdl.so* | librt.so* | libpthread.so* | ld-linux* | libgcc_s.so* | libstdc++.so*) ;;
    libcuda* | libcudnn* | libcublas* | libnccl* | libnvrtc* | libnvJitLink* | libcufft* | libcurand* | libnvidia*) ;;
    *) cp -L "$lib" "$dest/" ;;
    esac
done
echo "gpu_bundle: $(ls "$dest" | wc -l) libraries, $(du -sh "$dest" | cut -f1), in $dest"
