# tests/e2e/run_basic.sh - `tgc run` on a Fashion-MNIST subset: log lines, scalars.json, checkpoints,
# last_checkpoint, the config dump and TensorBoard events.
. "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir w --max-iters 10 --cfg-options $SMALL default_hooks.logger.interval=2 \
    visualizer.vis_backends.0.type=TensorboardVisBackend >stdout.txt 2>stderr.txt || fail "run: $(cat stderr.txt)"

# Layout: WORK_DIR/<ts>/<ts>.log holding the lines printed, vis_data, checkpoints and last_checkpoint.
ts=$(cd w && ls -d 2???????_?????? | head -1)
[ -n "$ts" ] || fail "no timestamp folder in w"
cmp -s stdout.txt "w/$ts/$ts.log" || fail "the log file differs from stdout"
for f in epoch_1.ckpt epoch_2.ckpt iter_10.ckpt last_checkpoint "$ts/vis_data/scalars.json" "$ts/vis_data/config.yaml"; do
    [ -s "w/$f" ] || fail "missing w/$f"
done
[ "$(cat w/last_checkpoint)" = "w/iter_10.ckpt" ] || fail "last_checkpoint holds '$(cat w/last_checkpoint)'"
[ ! -e w/epoch_3.ckpt ] || fail "epoch 3 was not finished but saved"

# MMEngine's line formats (LogProcessor, MMLogger).
stamp='[0-9][0-9]/[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9] - mmengine - INFO - '
num='[0-9]+\.[0-9]{4}'
grep -Eq "^${stamp}Epoch\(train\) \[1\]\[2/4\]  lr: 1\.0000e-02  eta: [0-9]+:[0-9]{2}:[0-9]{2}  time: $num  data_time: $num  loss: $num\$" stdout.txt \
    || fail "no train line in MMEngine's format: $(grep -m1 'Epoch(train)' stdout.txt)"
grep -Eq "^${stamp}Epoch\(val\) \[1\]\[2/2\]    accuracy/top1: $num  data_time: $num  time: $num\$" stdout.txt \
    || fail "no val line in MMEngine's format: $(grep -m1 'Epoch(val)' stdout.txt)"
grep -q "Exp name: lenet5_fashionmnist_$ts" stdout.txt || fail "no Exp name line"
grep -q "Saving checkpoint at 2 epochs" stdout.txt || fail "no checkpoint message"
[ "$(grep -c 'Epoch(train)' stdout.txt)" = 5 ] || fail "expected 5 train lines (iterations 2, 4, 6, 8, 10)"

# scalars.json: MMEngine's keys in MMEngine's order.
python3 - "w/$ts/vis_data/scalars.json" <<'PY' || fail "scalars.json"
import json, sys
recs = [json.loads(l, object_pairs_hook=lambda kv: kv) for l in open(sys.argv[1])]
train = [r for r in recs if r[0][0] == "lr"]
val = [r for r in recs if r[0][0] == "accuracy/top1"]
assert len(train) == 5 and len(val) == 2, recs
assert [k for k, _ in train[0]] == ["lr", "data_time", "loss", "time", "epoch", "iter", "step"], train[0]
assert dict(train[-1])["iter"] == 10 and dict(train[-1])["step"] == 10 and dict(train[-1])["epoch"] == 3
assert [k for k, _ in val[0]] == ["accuracy/top1", "data_time", "time", "step"], val[0]
assert [dict(v)["step"] for v in val] == [1, 2]
assert all(0 <= dict(v)["accuracy/top1"] <= 100 for v in val)
PY

# TensorBoard's own reader reads the event files, under TGC_TB_PYTHON (CMake passes .venv/bin/python3, which
# tools/setup.sh makes). Without it the rest of the test runs and it is then reported skipped (status 77);
# under CI=true it fails.
TB_PY=${TGC_TB_PYTHON:-$SRC/.venv/bin/python3}
if [ ! -x "$TB_PY" ]; then
    missing_at_end "TensorBoard's reader: $TB_PY does not exist (tools/setup.sh creates the virtual environment .venv with tensorboard)"
else
    set +e
    "$TB_PY" "$SRC/tests/filecheck/Inputs/tb_read.py" "w/$ts/vis_data" >tb.txt 2>tb.err
    rc=$?
    set -e
    if [ $rc = 77 ]; then
        missing_at_end "TensorBoard's reader: $(sed 's/^skipped: //' tb.txt)"
    else
        [ $rc = 0 ] || fail "tb_read.py under $TB_PY: $(cat tb.txt tb.err)"
        for tag in "loss 10 " "lr 2 " "accuracy/top1 2 "; do
            grep -q "^$tag" tb.txt || fail "TensorBoard has no '$tag' scalar: $(head -5 tb.txt)"
        done
        echo "TensorBoard ($TB_PY) read $(grep -c . tb.txt) lines: $(grep -E '^(file_version|loss 10|lr 2|accuracy/top1 2) ' tb.txt | paste -sd';')"
    fi
fi

# A second run continues from last_checkpoint and finishes epoch 3.
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir w --resume --cfg-options $SMALL >stdout2.txt 2>&1 || fail "resume: $(tail -3 stdout2.txt)"
grep -q "resumed epoch: 2, iter: 10" stdout2.txt || fail "did not resume at iteration 10"
[ -s w/epoch_3.ckpt ] && [ "$(cat w/last_checkpoint)" = "w/epoch_3.ckpt" ] || fail "epoch_3.ckpt not saved"
# IterBasedTrainLoop: "Iter(train)" lines, validation and iter_N checkpoints every 5 iterations, and
# max_keep_ckpts 1 removing the older one once the newer is written.
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir it --cfg-options $SMALL train_cfg.type=IterBasedTrainLoop train_cfg.max_iters=10 \
    train_cfg.val_interval=5 default_hooks.checkpoint.by_epoch=False default_hooks.checkpoint.interval=5 \
    default_hooks.checkpoint.max_keep_ckpts=1 default_hooks.logger.interval=3 >it.txt 2>&1 || fail "iter loop: $(tail -3 it.txt)"
grep -Eq "^${stamp}Iter\(train\) \[ 3/10\]  lr: 1\.0000e-02  eta: " it.txt || fail "no Iter(train) line: $(grep -m1 'Iter(train)' it.txt)"
[ "$(grep -c 'Iter(val) \[2/2\]    accuracy/top1' it.txt)" = 2 ] || fail "expected validation after iterations 5 and 10"
[ -s it/iter_10.ckpt ] && [ ! -e it/iter_5.ckpt ] || fail "max_keep_ckpts: $(ls it)"
# The device: without --device a run takes the plan's (cpu here); CUDA_VISIBLE_DEVICES=-1 hides every GPU, and
# `tgc train` then compiles for and trains on the CPU exactly as --device cpu does (same records).
# shellcheck disable=SC2086
CUDA_VISIBLE_DEVICES=-1 "$TGC" train "$SRC/configs/fashion/lenet5_fashionmnist.yaml" --work-dir hid --max-iters 4 \
    --cfg-options $SMALL >hid.txt 2>&1 || fail "CUDA_VISIBLE_DEVICES=-1: $(tail -3 hid.txt)"
# shellcheck disable=SC2086
"$TGC" train "$SRC/configs/fashion/lenet5_fashionmnist.yaml" --device cpu --work-dir cpu --max-iters 4 \
    --cfg-options $SMALL >cpu.txt 2>&1 || fail "--device cpu: $(tail -3 cpu.txt)"
grep -q "device cpu" hid.txt || fail "CUDA_VISIBLE_DEVICES=-1 did not train on the CPU: $(grep -m1 device hid.txt)"
[ "$(scalars hid)" = "$(scalars cpu)" ] || fail "CUDA_VISIBLE_DEVICES=-1 and --device cpu trained differently"
# env_cfg.cudnn_benchmark is the cuda device's (autotuned convolutions): on cpu it is named as without effect.
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir bm --max-iters 1 --cfg-options $SMALL env_cfg.cudnn_benchmark=True >bm.txt 2>&1 ||
    fail "cudnn_benchmark on cpu: $(tail -3 bm.txt)"
grep -q "env_cfg.cudnn_benchmark has no effect on the cpu device" bm.txt || fail "no cudnn_benchmark warning on cpu"
[ ! -e bm/cudnn_algos.txt ] || fail "cpu wrote cudnn_algos.txt"
echo "ok"
