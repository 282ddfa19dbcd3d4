# tests/e2e/run_resume.sh - a run killed by SIGKILL after its first checkpoint and resumed ends with the
# same per-iteration losses, lrs and accuracies, to the last digit, as an uninterrupted run.
. "$(dirname "$0")/lib.sh"

# Every iteration logged, losses smoothed over 3 (the logger's window must be restored too), 6 epochs.
OPTS="$SMALL train_cfg.max_epochs=6 default_hooks.logger.interval=1 log_processor.window_size=3"
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir a --cfg-options $OPTS >a.txt 2>&1 || fail "uninterrupted run: $(tail -3 a.txt)"

# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir b --cfg-options $OPTS >b1.txt 2>&1 &
pid=$!
i=0
# (last_checkpoint is written right after the checkpoint: wait for both)
while { [ ! -e b/epoch_1.ckpt ] || [ ! -e b/last_checkpoint ]; } && [ $i -lt 3000 ]; do
    sleep 0.01
    i=$((i + 1))
done
kill -KILL $pid 2>/dev/null || true
set +e
wait $pid
rc=$?
set -e
[ -e b/epoch_1.ckpt ] || fail "no epoch_1.ckpt appeared"
[ $rc = 137 ] || echo "note: the first run ended with status $rc before SIGKILL reached it"
killed_at=$(cat b/last_checkpoint)

# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir b --resume --cfg-options $OPTS >b2.txt 2>&1 || fail "resumed run: $(tail -3 b2.txt)"
grep -q "Resuming from $killed_at" b2.txt || fail "did not resume from $killed_at: $(grep -m1 Resum b2.txt)"

# Every training iteration's record, and the final accuracy. (A validation the killed run did not reach
# before its checkpoint is not repeated on resume, as in MMEngine, so earlier val records may be absent.)
scalars a >a.all || fail "scalars of a"
scalars b >b.all || fail "scalars of b"
grep '"loss"' a.all >a.json
grep '"loss"' b.all >b.json
grep 'accuracy' a.all | tail -1 >>a.json
grep 'accuracy' b.all | tail -1 >>b.json
[ "$(grep -c '"loss"' a.json)" = 24 ] || fail "expected 24 train records in the uninterrupted run"
cmp -s a.json b.json || { diff a.json b.json | head -10 >&2; fail "the resumed run differs from the uninterrupted one"; }
echo "ok: resumed from $killed_at; final $(tail -1 b.json)"
