# tests/e2e/run_accumulate.sh - optim_wrapper.accumulative_counts through `tgc run`: LeNet5 (no batch norm)
# at batch 64 accumulating 2 iterations ends 2 epochs with the parameters of the same run at batch 128
# without accumulation (the same samples in the same order, the loss halved, an update every second
# iteration, the momentum's step count the number of updates), to float rounding; the same batch-64 run
# without accumulation (twice the updates) does not. Then 3 epochs of 4 iterations with accumulative_counts
# 3 (12 iterations: every group whole) and 5 epochs of 2 (10 iterations: groups of 3 and a last group of 1,
# MMEngine's remainder) run through and save; and two processes agree with one at their summed batch.
. "$(dirname "$0")/lib.sh"

for v in acc2:64:2 b128:128:1 b64:64:1; do
    IFS=: read -r name batch n <<<"$v"
    cat >$name.yaml <<YAML
_base_: $SRC/configs/fashion/lenet5_fashionmnist.yaml
train_dataloader: {batch_size: $batch}
optim_wrapper: {accumulative_counts: $n}
YAML
    "$TGC" compile $name.yaml -o $name.bin >${name}_compile.txt 2>&1 || fail "compile $name: $(tail -3 ${name}_compile.txt)"
done
"$TGC" inspect acc2.bin | grep -q "^accumulative_counts: 2$" || fail "the plan does not record accumulative_counts"
! grep -q "accumulative_counts" acc2_compile.txt || fail "accumulative_counts warned about: $(cat acc2_compile.txt)"

OPTS="$SMALL train_cfg.max_epochs=2 default_hooks.logger.interval=1"
for name in acc2 b128 b64; do
    # shellcheck disable=SC2086
    "$TGC" run $name.bin --work-dir $name --cfg-options $OPTS >$name.txt 2>&1 || fail "$name run: $(tail -3 $name.txt)"
done
grep -q "Epoch(train) \[2\]\[8/8\]" acc2.txt || fail "acc2 did not run 8 iterations per epoch: $(grep 'Epoch(train)' acc2.txt | tail -2)"

PYTHONPATH="$SRC/tests/numerics" /usr/bin/python3 - <<'PY' || fail "parameters after accumulation"
import numpy as np
import tgc_ckpt

a, b, c = (tgc_ckpt.load("%s/epoch_2.ckpt" % n)[0] for n in ("acc2", "b128", "b64"))
params = [k for k in a if k.startswith(("backbone.", "head.")) and k in b]
assert len(params) == 10, params
worst = worst_c = 0.0
for k in params:
    scale = max(float(np.abs(b[k]).max()), 1e-30)
    worst = max(worst, float(np.abs(a[k] - b[k]).max()) / scale)
    worst_c = max(worst_c, float(np.abs(c[k] - b[k]).max()) / scale)
print("accumulate 2 x 64 vs batch 128: worst relative difference %.3g; batch 64 without accumulation: %.3g"
      % (worst, worst_c))
assert worst < 1e-4, worst
assert worst_c > 100 * worst and worst_c > 1e-3, worst_c
PY

# Two processes at batch 32 equal one at batch 64 (the same global batches), with accumulative_counts 2 and
# clip_grad by norm engaged: the accumulation and the clip act on the all-reduced gradients, alike on every rank.
for v in dist2:32 dist1:64; do
    IFS=: read -r name batch <<<"$v"
    cat >$name.yaml <<YAML
_base_: $SRC/configs/fashion/lenet5_fashionmnist.yaml
train_dataloader: {batch_size: $batch}
optim_wrapper: {accumulative_counts: 2, clip_grad: {max_norm: 0.1}}
YAML
    "$TGC" compile $name.yaml -o $name.bin >${name}_compile.txt 2>&1 || fail "compile $name: $(tail -3 ${name}_compile.txt)"
done
# shellcheck disable=SC2086
"$TGC" run dist2.bin --nproc 2 --work-dir dist2 --cfg-options $OPTS >dist2.txt 2>&1 || fail "2 processes: $(tail -3 dist2.txt)"
# shellcheck disable=SC2086
"$TGC" run dist1.bin --work-dir dist1 --cfg-options $OPTS >dist1.txt 2>&1 || fail "1 process: $(tail -3 dist1.txt)"
# MMEngine's grad_norm (clip_grad by norm) in the log lines after the first update, not without clipping
grep -q "Epoch(train) \[1\]\[2/8\] .* grad_norm: [0-9.]*  loss: " dist1.txt || fail "no grad_norm logged: $(grep 'Epoch(train)' dist1.txt | head -2)"
! grep -q "Epoch(train) \[1\]\[1/8\] .*grad_norm" dist1.txt || fail "grad_norm logged before the first update"
! grep -q "grad_norm" acc2.txt || fail "grad_norm logged without clip_grad"
PYTHONPATH="$SRC/tests/numerics" /usr/bin/python3 - <<'PY' || fail "2 processes against 1"
import numpy as np
import tgc_ckpt

a, b = (tgc_ckpt.load("%s/epoch_2.ckpt" % n)[0] for n in ("dist2", "dist1"))
params = [k for k in a if k.startswith(("backbone.", "head.")) and k in b]
assert len(params) == 10, params
worst = max(float(np.abs(a[k] - b[k]).max()) / max(float(np.abs(b[k]).max()), 1e-30) for k in params)
print("2 processes x 32 vs 1 x 64, accumulation 2 and clip_grad: worst relative difference %.3g" % worst)
assert worst < 1e-4, worst
PY

cat >acc3.yaml <<YAML
_base_: $SRC/configs/fashion/lenet5_fashionmnist.yaml
optim_wrapper: {accumulative_counts: 3}
YAML
"$TGC" compile acc3.yaml -o acc3.bin >acc3_compile.txt 2>&1 || fail "compile acc3: $(tail -3 acc3_compile.txt)"
for e in 3 5; do
    OPTS3="$SMALL train_cfg.max_epochs=$e default_hooks.logger.interval=1"
    [ $e = 5 ] && OPTS3="$OPTS3 train_dataloader.dataset.indices=256"
    # shellcheck disable=SC2086
    "$TGC" run acc3.bin --work-dir acc3_$e --cfg-options $OPTS3 >acc3_$e.txt 2>&1 || fail "acc3 run ($e epochs): $(tail -3 acc3_$e.txt)"
    [ -f acc3_$e/epoch_$e.ckpt ] || fail "acc3 ($e epochs) saved no epoch_$e.ckpt"
done
echo "ok"
