#!/usr/bin/env bash
# tools/gpu_check.sh - the checks that need a real NVIDIA GPU, in one run, with one summary table last.
#
#   tools/gpu_check.sh [BUILD_DIR]          (default: build; it is configured and built when it has no tests)
#
# Everything that can be checked without a GPU runs in CI (tests/cuda, the stand-in, the host runs of the
# kernels); this script runs what cannot: the stream layer on the real CUDA runtime, cuDNN engine
# heuristics and execution plans for every convolution, batch norm and pooling of the shipped configs (and
# the device's own cuDNN properties, saved for the deviceless planner), and the CPU-only checks again on
# this machine. The CUDA executor (`--device cuda`) does not exist yet: its rows say so.
#
# It works where cuDNN, cuBLAS, NCCL and NVRTC come only from a PyTorch installation's nvidia-* wheels:
# their nvidia/*/lib folders are put on LD_LIBRARY_PATH. tgc's own non-CUDA libraries (oneDNN, libyaml,
# Gloo, libjpeg, libpng and what they pull in) may be carried in a folder named by TGC_GPU_LIBS (or
# gpu-libs/ beside the build) when the machine has no package manager; tools/gpu_bundle.sh fills one.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
out=${OUT:-$build/gpu-check}
mkdir -p "$out"

# ---- libraries -------------------------------------------------------------------------------------
libs=""
for py in python3 /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    site=$("$py" -c 'import site, sys; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null) || continue
    for s in $site; do
        for d in "$s"/nvidia/*/lib; do [ -d "$d" ] && libs="$libs:$d"; done
    done
done
for d in "${TGC_GPU_LIBS:-}" "$build/gpu-libs" "$root/gpu-libs"; do
    [ -n "$d" ] && [ -d "$d" ] && libs="$libs:$d"
done
export LD_LIBRARY_PATH="${libs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# ---- build when needed ------------------------------------------------------------------------------
if [ ! -x "$build/tests/test_stream_cuda" ] || [ ! -x "$build/tests/test_cudnn_plan" ]; then
    echo "gpu_check: building in $build"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTGC_CUDA=ON >"$out/cmake.log" 2>&1 &&
        cmake --build "$build" -j"$(nproc)" >"$out/build.log" 2>&1 ||
        { tail -30 "$out/cmake.log" "$out/build.log" 2>/dev/null; echo "gpu_check: the build failed"; exit 1; }
fi

rows=()
failed=0
# run NAME COMMAND...: runs a check, keeps its log in $out/NAME.log, records pass/fail/skip and its last line.
run() {
    local name=$1
    shift
    local t0=$SECONDS rc
    "$@" >"$out/$name.log" 2>&1
    rc=$?
    local dt=$((SECONDS - t0))
    local last=$(grep -v '^\s*$' "$out/$name.log" | tail -1 | cut -c1-110)
    local st=pass
    [ $rc = 77 ] && st=skipped
    [ $rc != 0 ] && [ $rc != 77 ] && st=FAIL && failed=$((failed + 1))
    rows+=("$name|$st|${dt}s|$last")
    echo "gpu_check: $name: $st ($dt s)"
}

echo "gpu_check: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi: not found')"
echo "gpu_check: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

run stream_cuda "$build/tests/test_stream_cuda"                       # streams, events, graphs, NVRTC kernels
run cudnn_plans "$build/tests/test_cudnn_plan"                      # heuristics and plans on the device; saves its properties JSON
run codegen_nvrtc "$build/tests/test_codegen_nvrtc"                   # generated kernels compile for this driver
run cuda_kernels_host "$build/tests/test_backend_cuda_kernels"        # hand-written kernels vs CPU (host shim)
run cpu_suite sh -c "cd '$build' && ctest -j$(nproc) -E '^(e2e|dist)/' --output-on-failure"
rows+=("cuda_executor|not yet|-|the CUDA executor (--device cuda) is not built yet: no op, step or ResNet-50 benchmark on the GPU")

echo
printf '%-18s %-8s %-8s %s\n' check result time "last line"
for r in "${rows[@]}"; do
    IFS='|' read -r n s t l <<<"$r"
    printf '%-18s %-8s %-8s %s\n' "$n" "$s" "$t" "$l"
done
echo "gpu_check: logs in $out; $failed failed"
[ $failed = 0 ]
