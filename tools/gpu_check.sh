#!/usr/bin/env bash
# tools/gpu_check.sh - the checks that need a real NVIDIA GPU, in one run, with one summary table last.
#
#   tools/gpu_check.sh [BUILD_DIR]          (default: build; it is configured and built when it lacks the checks)
#
# Everything that can be checked without a GPU runs in CI (tests/cuda, the stand-in, the host runs of the
# kernels); this script runs what cannot, in this order: the stream layer on the real CUDA runtime; cuDNN
# engine heuristics and execution plans for every convolution, batch norm and pooling of the shipped configs;
# the generated kernels for this driver; then the CUDA executor (tests/cuda/gpu_exec_check.c) against the CPU
# executor: every distinct instruction of every shipped config alone (forward and backward ops, optimizer
# updates; fp32, relative to the CPU tensor's largest magnitude: 1e-4), one whole train step of each shipped
# config (loss 1e-4, every state tensor's update and the eval logits 1e-3), the same for the --amp plans (float16
# and bfloat16) of LeNet-5 and the default ResNet, the default ResNet with NHWC activations (--layout nhwc, fp32
# and --amp), 300 iterations of the default config
# (resnet_small_fashionmnist) on Fashion-MNIST with its accuracy, and ResNet-50 at batch 256: img/s and device
# memory of tgc with and without the CUDA graph, with the graph and autotuned convolutions (env_cfg.cudnn_benchmark,
# 4 candidates each; a second run takes the choices from the cudnn_algos.txt the first wrote), against
# PyTorch eager (channels_last) and torch.compile when
# torch is importable (bench/gpu_resnet50_torch.py), and again with mixed precision (tgc --amp, float16 with
# dynamic loss scaling, and tgc --amp --layout nhwc, against autocast + GradScaler); Faster R-CNN R50-FPN at 800x1344, batch 2: img/s and
# device memory of tgc's train step against torchvision's fasterrcnn_resnet50_fpn (bench/gpu_frcnn_torch.py);
# then the CUDA-related CPU tests again on this machine.
# Without a GPU it says "skipped: no GPU" and exits 77. TGC_ALLOW_TF32=1 lets cuDNN, cuBLAS and PyTorch use
# TF32 tensor cores (tolerances 5e-3 / 2e-2). FASHION_MNIST_DIR names the dataset's folder (idx files) when it
# is not where Debian's package puts it.
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

# ---- a GPU at all? ------------------------------------------------------------------------------------
# (TGC_GPU_CHECK_DRY=1 goes on without one: the script itself tried on a CPU machine, every GPU check skipped)
if ! ls /dev/nvidia[0-9]* >/dev/null 2>&1 && ! nvidia-smi -L >/dev/null 2>&1 && [ "${TGC_GPU_CHECK_DRY:-}" != 1 ]; then
    echo "gpu_check: skipped: no GPU (no /dev/nvidia*, nvidia-smi finds none)"
    exit 77
fi

# ---- build when needed ------------------------------------------------------------------------------
if [ ! -x "$build/tests/test_stream_cuda" ] || [ ! -x "$build/tests/test_cudnn_plan" ] ||
    [ ! -x "$build/tests/tgc_gpu_exec_check" ] || [ ! -x "$build/tgc" ]; then
    echo "gpu_check: building in $build"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTGC_CUDA=ON >"$out/cmake.log" 2>&1 &&
        cmake --build "$build" -j"$(nproc)" >"$out/build.log" 2>&1 ||
        { tail -30 "$out/cmake.log" "$out/build.log" 2>/dev/null; echo "gpu_check: the build failed"; exit 1; }
fi
tgc=$build/tgc
check=$build/tests/tgc_gpu_exec_check

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

# ---- the layers under the executor ---------------------------------------------------------------------
run stream_cuda "$build/tests/test_stream_cuda"                       # streams, events, graphs, NVRTC kernels, lib_call
run cudnn_plans "$build/tests/test_cudnn_plan"                      # heuristics and plans on the device; saves its properties JSON
run codegen_nvrtc "$build/tests/test_codegen_nvrtc"                   # generated kernels compile for this driver

# ---- the executor against the CPU --------------------------------------------------------------------
# every shipped config for the cuda target at a small batch (the ops' shapes, not the batch, are what varies)
plans=()
mkdir -p "$out/plans"
for cfg in "$root"/configs/[!_]*/*.yaml; do  # the shipped configs, not _base_
    name=$(basename "$cfg" .yaml)
    case "$cfg" in  # detection: the synthetic config below, op by op; the full-size ones have the same ops
    */retinanet/*) rows+=("compile $name|skipped|-|full-size detection: its ops are checked on det_synth"); continue ;;
    */faster_rcnn/*) rows+=("compile $name|skipped|-|full-size detection: its ops are checked on frcnn_small"); continue ;;
    */det_synth/*) continue ;;
    esac
    if "$tgc" compile "$cfg" --target cuda --cfg-options train_dataloader.batch_size=4 val_dataloader.batch_size=4 \
        -o "$out/plans/$name.bin" >"$out/plans/$name.log" 2>&1; then
        plans+=("$out/plans/$name.bin")
    else
        rows+=("compile $name|FAIL|-|$(tail -1 "$out/plans/$name.log" | cut -c1-110)")
        failed=$((failed + 1))
    fi
done
# the ops no shipped config uses yet (SE gate, soft-target CE, Adam, RMSprop, EMA, Lamb, clipping, sigmoid CE): a
# test config, per optimizer;
# whole steps with SGD only (Adam's and RMSprop's first step divides each gradient by its own magnitude, so
# gradients that are rounding noise, e.g. a conv bias before a batch norm, turn 1e-7 differences into 1e-3)
extra=()
for opt in Adam RMSprop SGD; do
    if "$tgc" compile "$root/tests/cuda/se_mixup_adam_ema.yaml" --target cuda --cfg-options \
        train_dataloader.batch_size=4 val_dataloader.batch_size=4 optim_wrapper.optimizer.type=$opt \
        -o "$out/plans/se_mixup_$opt.bin" >"$out/plans/se_mixup_$opt.log" 2>&1; then
        extra+=("$out/plans/se_mixup_$opt.bin")
    else
        rows+=("compile se_mixup_$opt|FAIL|-|$(tail -1 "$out/plans/se_mixup_$opt.log" | cut -c1-110)")
        failed=$((failed + 1))
    fi
done
# the update section and the sigmoid loss: Lamb, clip_grad by norm, LabelSmoothLoss with use_sigmoid
if "$tgc" compile "$root/tests/cuda/se_mixup_adam_ema.yaml" --target cuda --cfg-options \
    train_dataloader.batch_size=4 val_dataloader.batch_size=4 optim_wrapper.optimizer.type=Lamb \
    optim_wrapper.clip_grad.max_norm=0.5 model.head.loss.use_sigmoid=True \
    -o "$out/plans/se_mixup_lamb.bin" >"$out/plans/se_mixup_lamb.log" 2>&1; then
    extra+=("$out/plans/se_mixup_lamb.bin")
else
    rows+=("compile se_mixup_lamb|FAIL|-|$(tail -1 "$out/plans/se_mixup_lamb.log" | cut -c1-110)")
    failed=$((failed + 1))
fi
# RetinaNet's dense ops: the synthetic detection config with norm_eval (batch_norm_eval_bwd), each distinct
# instruction alone (not a whole step: its avg_factor and anchor targets come from the host's assigner)
det="$root/configs/det_synth/retinanet_r18_fpn_synth.yaml"
if "$tgc" compile "$det" --target cuda --cfg-options train_dataloader.batch_size=2 val_dataloader.batch_size=2 \
    model.backbone.norm_eval=True -o "$out/plans/det_synth.bin" >"$out/plans/det_synth.log" 2>&1; then
    extra+=("$out/plans/det_synth.bin")
else
    rows+=("compile det_synth|FAIL|-|$(tail -1 "$out/plans/det_synth.log" | cut -c1-110)")
    failed=$((failed + 1))
fi
# Faster R-CNN's ops (proposals, RoI sampler, RoIAlign, the R-CNN losses): the R50-FPN config made CPU-sized
# (ResNet-18 at half width, 256x256, 10 classes), each distinct instruction alone
frcnn="$root/configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.yaml"
if "$tgc" compile "$frcnn" --target cuda --cfg-options train_dataloader.batch_size=2 model.data_preprocessor.tgc_canvas=[256,256] \
    model.backbone.depth=18 model.backbone.base_channels=32 model.backbone.frozen_stages=-1 model.backbone.init_cfg=None \
    model.neck.in_channels=[32,64,128,256] model.neck.out_channels=64 model.rpn_head.in_channels=64 \
    model.rpn_head.feat_channels=64 model.roi_head.bbox_roi_extractor.out_channels=64 \
    model.roi_head.bbox_head.in_channels=64 model.roi_head.bbox_head.num_classes=10 \
    -o "$out/plans/frcnn_small.bin" >"$out/plans/frcnn_small.log" 2>&1; then
    extra+=("$out/plans/frcnn_small.bin")
else
    rows+=("compile frcnn_small|FAIL|-|$(tail -1 "$out/plans/frcnn_small.log" | cut -c1-110)")
    failed=$((failed + 1))
fi
run ops "$check" ops "${plans[@]}" "${extra[@]}"
run steps "$check" step "${plans[@]}" $(printf '%s\n' "${extra[@]}" | grep _SGD.bin)

# mixed precision (--amp: float16 on the cuda target, with dynamic loss scaling; and bfloat16): LeNet-5 and the
# default ResNet, every distinct instruction alone (bf16/f16 results within two steps of their format) and a step
amp=()
for cfg in "$root/configs/fashion/lenet5_fashionmnist.yaml" "$root/configs/fashion/resnet_small_fashionmnist.yaml"; do
    for dt in float16 bfloat16; do
        name=$(basename "$cfg" .yaml)_amp_$dt
        if "$tgc" compile "$cfg" --target cuda --amp --cfg-options train_dataloader.batch_size=4 \
            val_dataloader.batch_size=4 optim_wrapper.dtype=$dt -o "$out/plans/$name.bin" >"$out/plans/$name.log" 2>&1; then
            amp+=("$out/plans/$name.bin")
        else
            rows+=("compile $name|FAIL|-|$(tail -1 "$out/plans/$name.log" | cut -c1-110)")
            failed=$((failed + 1))
        fi
    done
done
run ops_amp "$check" ops "${amp[@]}"
run steps_amp "$check" step "${amp[@]}"

# NHWC (channels_last) activations (--layout nhwc): the default ResNet in fp32 and --amp (float16), every distinct
# instruction alone (relayout, the NHWC cuDNN descriptors, hand kernels and generated groups) and a step, against
# the CPU executor's row-major plan; skipped (and said) while this tgc has no --layout
nhwc_ok=1
"$tgc" compile --help 2>&1 | grep -q -- "--layout" || nhwc_ok=0
nhwc=()
if [ $nhwc_ok = 1 ]; then
    for amp_flag in "" --amp; do
        name=resnet_small_fashionmnist_nhwc${amp_flag:+_amp}
        if "$tgc" compile "$root/configs/fashion/resnet_small_fashionmnist.yaml" --target cuda --layout nhwc $amp_flag \
            --cfg-options train_dataloader.batch_size=4 val_dataloader.batch_size=4 -o "$out/plans/$name.bin" \
            >"$out/plans/$name.log" 2>&1; then
            nhwc+=("$out/plans/$name.bin")
        else
            rows+=("compile $name|FAIL|-|$(tail -1 "$out/plans/$name.log" | cut -c1-110)")
            failed=$((failed + 1))
        fi
    done
    run ops_nhwc "$check" ops "${nhwc[@]}"
    run steps_nhwc "$check" step "${nhwc[@]}"
else
    rows+=("ops_nhwc|skipped|-|this tgc has no --layout (tgc compile --help)")
    rows+=("steps_nhwc|skipped|-|this tgc has no --layout (tgc compile --help)")
fi

# 300 iterations of the default config on Fashion-MNIST, validated at the end
fm=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
fashion() {
    if [ "${TGC_GPU_CHECK_DRY:-}" = 1 ] && ! nvidia-smi -L >/dev/null 2>&1; then
        echo "skipped: no GPU"
        return 77
    fi
    if [ ! -e "$fm/train-images-idx3-ubyte" ] && [ ! -e "$fm/train-images-idx3-ubyte.gz" ]; then
        echo "skipped: no Fashion-MNIST in $fm (set FASHION_MNIST_DIR)"
        return 77
    fi
    "$tgc" train "$root/configs/fashion/resnet_small_fashionmnist.yaml" --device cuda --work-dir "$out/fashion" \
        --cfg-options train_dataloader.dataset.data_prefix="$fm" val_dataloader.dataset.data_prefix="$fm" \
        train_cfg.type=IterBasedTrainLoop train_cfg.max_iters=300 train_cfg.val_interval=300 \
        default_hooks.logger.interval=50 || return 1
    grep -m1 "device " "$out/fashion"/*/*.log
    grep "accuracy/top1" "$out/fashion"/*/*.log | tail -1
}
run fashion300 fashion

# ResNet-50 at batch 256: tgc with and without the CUDA graph, then PyTorch eager and torch.compile
"$tgc" compile "$root/configs/resnet/resnet50_8xb32_in1k.yaml" --target cuda \
    --cfg-options train_dataloader.batch_size=256 val_dataloader.batch_size=256 -o "$out/plans/r50_b256.bin" \
    >"$out/plans/r50_b256.log" 2>&1 || echo "gpu_check: compiling ResNet-50 at batch 256 failed"
# then with env_cfg.cudnn_benchmark: the first run times 4 candidates per convolution graph (capped to keep the
# script's budget), the second takes every choice from the cudnn_algos.txt the first wrote
rm -f "$out/cudnn_algos.txt"
TGC_CUDNN_BENCHMARK_CANDIDATES=4 run resnet50_tgc timeout 240 "$check" bench "$out/plans/r50_b256.bin" 20 "$out"
TGC_CUDNN_BENCHMARK_CANDIDATES=4 run resnet50_tgc_cached timeout 120 "$check" bench "$out/plans/r50_b256.bin" 10 "$out"
py=python3
for p in python3 /usr/bin/python3; do
    command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' 2>/dev/null && { py=$p; break; }
done
run resnet50_torch_eager timeout 240 "$py" "$root/bench/gpu_resnet50_torch.py" eager
run resnet50_torch_compile timeout 300 "$py" "$root/bench/gpu_resnet50_torch.py" compile

# the same with mixed precision: tgc --amp (float16, dynamic loss scaling: eager steps, the host reads the finite
# check's flag before the updates) against PyTorch eager AMP (autocast float16 + GradScaler, channels_last) and
# torch.compile of the same step
"$tgc" compile "$root/configs/resnet/resnet50_8xb32_in1k.yaml" --target cuda --amp \
    --cfg-options train_dataloader.batch_size=256 val_dataloader.batch_size=256 -o "$out/plans/r50_b256_amp.bin" \
    >"$out/plans/r50_b256_amp.log" 2>&1 || echo "gpu_check: compiling ResNet-50 --amp at batch 256 failed"
grep -h "arena" "$out/plans/r50_b256.log" "$out/plans/r50_b256_amp.log" 2>/dev/null | sed 's/^/gpu_check: /'
run resnet50_tgc_amp timeout 240 "$check" bench "$out/plans/r50_b256_amp.bin" 20
run resnet50_torch_eager_amp timeout 240 "$py" "$root/bench/gpu_resnet50_torch.py" eager --amp
run resnet50_torch_compile_amp timeout 300 "$py" "$root/bench/gpu_resnet50_torch.py" compile --amp
# and tgc --amp with NHWC activations (--layout nhwc: cuDNN's tensor-core convolutions take channels_last),
# against the same PyTorch rows (channels_last)
if [ $nhwc_ok = 1 ]; then
    if "$tgc" compile "$root/configs/resnet/resnet50_8xb32_in1k.yaml" --target cuda --amp --layout nhwc \
        --cfg-options train_dataloader.batch_size=256 val_dataloader.batch_size=256 -o "$out/plans/r50_b256_amp_nhwc.bin" \
        >"$out/plans/r50_b256_amp_nhwc.log" 2>&1; then
        run resnet50_tgc_amp_nhwc timeout 240 "$check" bench "$out/plans/r50_b256_amp_nhwc.bin" 20
    else
        rows+=("resnet50_tgc_amp_nhwc|FAIL|-|compile: $(tail -1 "$out/plans/r50_b256_amp_nhwc.log" | cut -c1-100)")
        failed=$((failed + 1))
    fi
else
    rows+=("resnet50_tgc_amp_nhwc|skipped|-|this tgc has no --layout (tgc compile --help)")
fi
# Faster R-CNN R50-FPN at 1333x800 (the shipped config's 800x1344 canvas), batch 2: tgc's train step with and without
# the CUDA graph on `tgc bench`'s synthetic targets and ground truth, against torchvision's fasterrcnn_resnet50_fpn
# train step at the same size (bench/gpu_frcnn_torch.py; its --dry-run checks it on a CPU)
if "$tgc" compile "$frcnn" --target cuda -o "$out/plans/frcnn_r50.bin" >"$out/plans/frcnn_r50.log" 2>&1; then
    run frcnn_r50_tgc timeout 200 "$check" bench "$out/plans/frcnn_r50.bin" 10
else
    rows+=("frcnn_r50_tgc|FAIL|-|compile: $(tail -1 "$out/plans/frcnn_r50.log" | cut -c1-100)")
    failed=$((failed + 1))
fi
run frcnn_r50_torch timeout 200 "$py" "$root/bench/gpu_frcnn_torch.py"

# ---- the CUDA-related CPU checks again, on this machine ------------------------------------------------
run cpu_checks sh -c "cd '$build' && ctest -j$(nproc) -R '^(cuda/|unit/test_(exec_cuda|backend_stream|backend_cuda|cuda_ops|codegen))' --output-on-failure"

echo
printf '%-24s %-8s %-8s %s\n' check result time "last line"
for r in "${rows[@]}"; do
    IFS='|' read -r n s t l <<<"$r"
    printf '%-24s %-8s %-8s %s\n' "$n" "$s" "$t" "$l"
done
echo
echo "ResNet-50, batch 256, fp32$([ "${TGC_ALLOW_TF32:-}" = 1 ] && echo ' (TF32 allowed)'), one GPU:"
grep -h "img/s" "$out/resnet50_tgc.log" "$out/resnet50_tgc_cached.log" "$out/resnet50_torch_eager.log" "$out/resnet50_torch_compile.log" 2>/dev/null |
    sed 's/^/  /'
echo "ResNet-50, batch 256, mixed precision (float16), one GPU:"
grep -h "img/s" "$out/resnet50_tgc_amp.log" "$out/resnet50_tgc_amp_nhwc.log" "$out/resnet50_torch_eager_amp.log" "$out/resnet50_torch_compile_amp.log" \
    2>/dev/null | sed 's/^/  /'
echo "Faster R-CNN R50-FPN, batch 2 at 800x1344, fp32$([ "${TGC_ALLOW_TF32:-}" = 1 ] && echo ' (TF32 allowed)'), one GPU (tgc: device memory in use after the steps; torch: max_memory_allocated):"
grep -h "img/s\|skipped\|FAIL" "$out/frcnn_r50_tgc.log" "$out/frcnn_r50_torch.log" 2>/dev/null | sed 's/^/  /'
echo "gpu_check: logs in $out; $failed failed"
[ $failed = 0 ]
