# tests/e2e/run_signal.sh - SIGTERM: the iteration finishes, iter_N.ckpt is saved, the resume command is
# printed and the exit status is 128 + 15; resuming from it works. Checkpoints of another plan and
# truncated ones are refused; load_from loads weights from any plan's checkpoint.
. "$(dirname "$0")/lib.sh"

OPTS="$SMALL train_cfg.max_epochs=200 default_hooks.logger.interval=1"
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir s --cfg-options $OPTS >s1.txt 2>&1 &
pid=$!
i=0
while ! grep -q 'Epoch(train) *\[1\]\[3/4\]' s1.txt 2>/dev/null && [ $i -lt 3000 ]; do
    sleep 0.01
    i=$((i + 1))
done
kill -TERM $pid
set +e
wait $pid
rc=$?
set -e
[ $rc = 143 ] || fail "exit status $rc after SIGTERM (want 143): $(tail -3 s1.txt)"
ck=$(cat s/last_checkpoint)
case "$ck" in s/iter_*.ckpt) ;; *) fail "last_checkpoint holds '$ck'" ;; esac
[ -s "$ck" ] || fail "$ck missing"
grep -q "Interrupted by SIGTERM after iteration" s1.txt || fail "no interruption message"
grep -q "Resume with: tgc run lenet.bin --work-dir s --resume $ck" s1.txt || fail "no resume hint"
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir s --resume --max-iters 20 --no-validate --cfg-options $OPTS >s2.txt 2>&1 || fail "resume after SIGTERM: $(tail -3 s2.txt)"
grep -q "Resuming from $ck" s2.txt || fail "did not resume from $ck"

# Another plan (batch 64) refuses the checkpoint; a truncated checkpoint is refused.
"$TGC" compile "$SRC/configs/fashion/lenet5_fashionmnist.yaml" -o other.bin --cfg-options train_dataloader.batch_size=64 2>/dev/null
set +e
# shellcheck disable=SC2086
"$TGC" run other.bin --work-dir o --resume "$ck" --cfg-options $OPTS >o.txt 2>&1
rc=$?
head -c 3000 "$ck" >trunc.ckpt
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir t --resume trunc.ckpt --cfg-options $OPTS >t.txt 2>&1
rc2=$?
set -e
[ $rc = 1 ] && grep -q "checkpoint was saved from another plan" o.txt || fail "another plan's checkpoint: status $rc, $(tail -1 o.txt)"
[ $rc2 = 1 ] && grep -q "trunc.ckpt" t.txt || fail "truncated checkpoint: status $rc2, $(tail -1 t.txt)"

# load_from: weights by name from the other plan's checkpoint, fresh optimizer and counters.
# shellcheck disable=SC2086
"$TGC" run other.bin --work-dir l --max-iters 2 --no-validate --cfg-options $OPTS "load_from=$ck" >l.txt 2>&1 || fail "load_from: $(tail -3 l.txt)"
grep -q "Load checkpoint from $ck" l.txt || fail "no load_from message"
grep -q "Epoch(train) *\[1\]\[1/8\]" l.txt || fail "load_from did not start at iteration 1: $(grep -m1 'Epoch(train)' l.txt)"
# A checkpoint that cannot be written (here its path is taken by a folder; a full disk fails the same
# way) stops training with a clear error, status 1, and no last_checkpoint pointing at it.
mkdir -p d/epoch_1.ckpt
set +e
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir d --cfg-options $OPTS >d.txt 2>&1
rc=$?
set -e
[ $rc = 1 ] && grep -q "tgc: training stopped (earlier checkpoints are intact): saving checkpoint d/epoch_1.ckpt" d.txt ||
    fail "failed save: status $rc, $(tail -1 d.txt)"
[ ! -e d/last_checkpoint ] || fail "last_checkpoint written after a failed save"
echo "ok"
