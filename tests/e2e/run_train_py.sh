# tests/e2e/run_train_py.sh - the training docs' commands, as written, through tools/train.py and
# tools/dist_train.sh on a Fashion-MNIST subset: an MMClassification 0.x / MMDetection 2.x-style .py config
# (data, optimizer, lr_config, runner, log_config with TensorboardLoggerHook, translated at load) with the
# 2.x flags (--gpus 1 with its 2.x meaning, --options, --seed, --deterministic, --resume-from,
# --no-validate), then MMPretrain's flags on a 1.x .py config (--resume, --amp, --auto-scale-lr,
# --no-pin-memory, --no-persistent-workers, --cfg-options, --launcher none), then dist_train.sh with 2 CPU
# workers. TensorBoard's own reader reads the events the 2.x config turned on.
. "$(dirname "$0")/lib.sh"
export TGC
PY=python3
LEGACY=$SRC/tests/unit/cfg_inputs/legacy/resnet_fashion_mmcls0x.py
# 2.x keys set from the command line, before the translation: a 256-image subset, 64 per batch
OLD="data.train.data_prefix=$DATA data.val.data_prefix=$DATA data.test.data_prefix=$DATA data.train.indices=256
 data.val.indices=128 data.samples_per_gpu=64 data.workers_per_gpu=1 runner.max_epochs=2 log_config.interval=1
 lr_config.warmup_iters=2"

# MMDetection 2.x: python tools/train.py ${CONFIG_FILE} --work-dir ... (--gpus: one GPU, with a warning)
# shellcheck disable=SC2086
$PY "$SRC/tools/train.py" "$LEGACY" --work-dir w1 --gpus 1 --seed 0 --deterministic --options $OLD --max-iters 6 \
    >t1.txt 2>&1 || fail "2.x train: $(tail -5 t1.txt)"
grep -q "as in MMDetection 2.x, --gpus is deprecated and trains on one GPU" t1.txt || fail "no --gpus warning"
grep -q "options is deprecated; it is --cfg-options" t1.txt || fail "no --options note"
grep -q "keys translated to MMEngine's: data, optimizer, optimizer_config, lr_config, runner" t1.txt ||
    fail "no translation line: $(grep -m2 tgc: t1.txt)"
grep -q "no meaning for tgc, kept in the config and ignored: workflow, img_norm_cfg" t1.txt || fail "no ignored-keys warning"
grep -q "Epoch(train) \[2\]\[2/4\]" t1.txt || fail "no epoch-2 train line: $(grep -m1 'Epoch(train)' t1.txt)"
grep -q "Epoch(val) \[1\]\[2/2\]" t1.txt || fail "no validation (evaluation interval 1)"
[ -s w1/iter_6.ckpt ] || fail "iter_6.ckpt not saved: $(ls w1)"

# --resume-from CKPT (2.x) continues that run; --no-validate skips validation
# shellcheck disable=SC2086
$PY "$SRC/tools/train.py" "$LEGACY" --work-dir w1 --resume-from w1/iter_6.ckpt --no-validate --seed 0 --deterministic \
    --options $OLD >t2.txt 2>&1 || fail "2.x resume: $(tail -5 t2.txt)"
grep -q "resumed epoch: 1, iter: 6" t2.txt || fail "did not resume at iteration 6: $(grep -m1 -i resum t2.txt)"
! grep -q "Epoch(val)" t2.txt || fail "--no-validate still validated"
[ -s w1/epoch_2.ckpt ] || fail "epoch_2.ckpt not saved"

# log_config's TensorboardLoggerHook became a TensorboardVisBackend: TensorBoard's reader reads the scalars
ts=$(ls w1 | grep -E '^[0-9]{8}_[0-9]{6}$' | head -1)
ls "w1/$ts/vis_data"/events.out.tfevents.* >/dev/null 2>&1 || fail "no TensorBoard events in w1/$ts/vis_data"
TB_PY=${TGC_TB_PYTHON:-$SRC/.venv/bin/python3}
if [ ! -x "$TB_PY" ]; then
    missing_at_end "TensorBoard's reader: $TB_PY does not exist (tools/setup.sh creates the virtual environment .venv with tensorboard)"
else
    set +e
    "$TB_PY" "$SRC/tests/filecheck/Inputs/tb_read.py" "w1/$ts/vis_data" >tb.txt 2>tb.err
    rc=$?
    set -e
    if [ $rc = 77 ]; then
        missing_at_end "TensorBoard's reader: $(sed 's/^skipped: //' tb.txt)"
    else
        [ $rc = 0 ] || fail "tb_read.py under $TB_PY: $(cat tb.txt tb.err)"
        for tag in "loss 1 " "loss 6 " "lr 1 " "accuracy/top1 1 "; do
            grep -q "^$tag" tb.txt || fail "TensorBoard has no '$tag' scalar: $(head -5 tb.txt)"
        done
        echo "TensorBoard read $(grep -c . tb.txt) lines: $(grep -E '^(loss 6|lr 1|accuracy/top1 1) ' tb.txt | paste -sd';')"
    fi
fi

# MMPretrain 1.x: python tools/train.py ${CONFIG_FILE} [ARGS] on a .py config, then --resume (auto) with the
# same flags (--amp is compiled into the plan, and a checkpoint resumes only the plan that wrote it)
NEW="train_dataloader.dataset.data_prefix=$DATA val_dataloader.dataset.data_prefix=$DATA
 train_dataloader.dataset.indices=256 val_dataloader.dataset.indices=128 train_cfg.max_epochs=1 default_hooks.logger.interval=1"
# shellcheck disable=SC2086
$PY "$SRC/tools/train.py" "$SRC/configs/fashion/lenet5_fashionmnist.py" --work-dir w2 --amp --auto-scale-lr --no-pin-memory \
    --no-persistent-workers --launcher none --cfg-options $NEW --max-iters 1 >t3.txt 2>&1 || fail "1.x train: $(tail -5 t3.txt)"
grep -q "LR is set based on batch size of 128 and the current batch size is 128" t3.txt || fail "no --auto-scale-lr line"
[ "$(cat w2/last_checkpoint)" = "w2/iter_1.ckpt" ] || fail "iter_1.ckpt is not the last checkpoint"
# shellcheck disable=SC2086
$PY "$SRC/tools/train.py" "$SRC/configs/fashion/lenet5_fashionmnist.py" --work-dir w2 --amp --resume --cfg-options $NEW \
    >t4.txt 2>&1 || fail "1.x resume: $(tail -5 t4.txt)"
grep -q "resumed epoch: 0, iter: 1" t4.txt || fail "--resume did not continue: $(grep -m1 -i resum t4.txt)"

# bash ./tools/dist_train.sh ${CONFIG_FILE} ${GPU_NUM} [ARGS]: no GPU here, so 2 CPU workers
# shellcheck disable=SC2086
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') bash "$SRC/tools/dist_train.sh" "$LEGACY" 2 --work-dir w3 --seed 0 --options $OLD data.samples_per_gpu=32 --max-iters 2 \
    >t5.txt 2>&1 || fail "dist_train.sh: $(tail -5 t5.txt)"
grep -q "no GPU visible: starting 2 CPU workers" t5.txt || fail "dist_train.sh: no CPU-workers line"
grep -q "starting 2 workers on node 0 of 1" t5.txt || fail "dist_train.sh: not 2 workers: $(grep -m3 -i worker t5.txt)"
[ -s w3/iter_2.ckpt ] || fail "dist_train.sh: iter_2.ckpt not saved"
echo "ok: $(grep -m1 'Epoch(train) \[2\]\[2/4\]' t1.txt | sed 's/.*Epoch/Epoch/')"
