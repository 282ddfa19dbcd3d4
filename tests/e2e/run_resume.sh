# tests/e2e/run_resume.sh - a run killed by SIGKILL mid-run (while saving its third epoch's checkpoint) and
# resumed from its last complete checkpoint ends with the same per-iteration losses, lrs and accuracies,
# to the last digit, as an uninterrupted run.
. "$(dirname "$0")/lib.sh"

# Every iteration logged, losses smoothed over 3 (the logger's window must be restored too), 6 epochs.
OPTS="$SMALL train_cfg.max_epochs=6 default_hooks.logger.interval=1 log_processor.window_size=3"
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir a --cfg-options $OPTS >a.txt 2>&1 || fail "uninterrupted run: $(tail -3 a.txt)"

# The interruption is certain, whatever the machine's load: the checkpoint writer creates CKPT.tmp.<pid>
# first (tgc_write_file_atomic, common/util.c), and opening a FIFO there for writing blocks until a reader
# comes, which never does. The shell makes the FIFO under its own pid and execs tgc, which keeps it, so
# the run is held inside the save of epoch_3.ckpt, after epoch_2.ckpt and last_checkpoint are complete
# and epoch 3's iterations were logged, and is SIGKILLed there.
mkdir b
# shellcheck disable=SC2016,SC2086
sh -c 'mkfifo "b/epoch_3.ckpt.tmp.$$" && exec "$@"' sh "$TGC" run lenet.bin --work-dir b --cfg-options $OPTS >b1.txt 2>&1 &
pid=$!
running() { [ -e /proc/$pid ] && [ "$(sed 's/.*) //' /proc/$pid/stat | cut -c1)" != Z ]; }
i=0
while ! grep -q "Saving checkpoint at 3 epochs" b1.txt && running && [ $i -lt 6000 ]; do
    sleep 0.01
    i=$((i + 1))
done
running || fail "the first run ended before it could be killed (was its checkpoint temp name changed from CKPT.tmp.PID?): $(tail -3 b1.txt)"
grep -q "Saving checkpoint at 3 epochs" b1.txt || fail "the first run never reached epoch 3's checkpoint: $(tail -3 b1.txt)"
sleep 0.2 # (nothing can happen meanwhile: it is held at the FIFO)
kill -KILL $pid
set +e
{ wait $pid; } 2>/dev/null # (without the shell's "Killed" line)
rc=$?
set -e
[ $rc = 137 ] || fail "the first run ended with status $rc, not by SIGKILL: $(tail -3 b1.txt)"
[ "$(cat b/last_checkpoint)" = b/epoch_2.ckpt ] && [ ! -e b/epoch_3.ckpt ] ||
    fail "the first run was not held in epoch 3's save (was the checkpoint temp name changed?): last_checkpoint $(cat b/last_checkpoint); $(ls b | tr "\n" " ")"
killed_at=b/epoch_2.ckpt

# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir b --resume --cfg-options $OPTS >b2.txt 2>&1 || fail "resumed run: $(tail -3 b2.txt)"
grep -q "Resuming from $killed_at" b2.txt || fail "did not resume from $killed_at: $(grep -m1 Resum b2.txt)"
# It started mid-run: at iteration 8, its first logged iteration epoch 3's first, epochs 1-2 not repeated.
grep -q "resumed epoch: 2, iter: 8" b2.txt || fail "resumed at $(grep -m1 'resumed epoch' b2.txt)"
grep -m1 'Epoch(train)' b2.txt | grep -q 'Epoch(train) \[3\]\[1/4\]' || fail "the resumed run began with $(grep -m1 'Epoch(train)' b2.txt)"
[ "$(grep -c 'Epoch(train)' b2.txt)" = 16 ] || fail "the resumed run trained $(grep -c 'Epoch(train)' b2.txt) logged iterations, want 16"

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
