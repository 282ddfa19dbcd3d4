# tests/dist/jobs.sh - jobs side by side: two 2-worker jobs on one machine on different PORTs both train
# (and each equals the same job run alone); a third job on a PORT in use is refused with a clear error
# before it starts workers; a stray worker pointed at a running job's port (another job token) is
# refused by the store, and the job it tried to join goes on undisturbed. --auto-scale-lr uses the world
# batch.
. "$(dirname "$0")/lib.sh"

OPTS="$DATAOPTS train_dataloader.dataset.indices=2048 val_dataloader.dataset.indices=256 train_cfg.max_epochs=3
 randomness.seed=7 randomness.deterministic=True default_hooks.logger.interval=4"
PA=$(free_port)
PB=$(free_port)
while [ "$PB" = "$PA" ]; do PB=$(free_port); done
# shellcheck disable=SC2086
PORT=$PA "$TGC" run b64.bin --nproc 2 --work-dir a --cfg-options $OPTS >a.txt 2>&1 &
ja=$!
bg_track $ja
# shellcheck disable=SC2086
PORT=$PB "$TGC" run b64.bin --nproc 2 --work-dir b --cfg-options $OPTS randomness.seed=8 >b.txt 2>&1 &
jb=$!
bg_track $jb
wait_for a.txt "Epoch(train) *\[1\]\[ *4/16\]"

# a third job on job A's port: refused before any worker starts
set +e
# shellcheck disable=SC2086
PORT=$PA "$TGC" run b64.bin --nproc 2 --work-dir c --cfg-options $OPTS >c.txt 2>&1
rc=$?
# a stray worker of another job (its own token) on job A's port
# shellcheck disable=SC2086
RANK=1 LOCAL_RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$PA TGC_JOB_TOKEN=stray TGC_DIST_TIMEOUT=5 \
    "$TGC" run b64.bin --launcher pytorch --work-dir s --cfg-options $OPTS >s.txt 2>&1
rs=$?
set -e
[ $rc = 1 ] && grep -q "tgc: port $PA on 127.0.0.1 is in use (another job?): set PORT to run a second job" c.txt ||
    fail "a job on a port in use: status $rc, $(cat c.txt)"
grep -q "starting" c.txt && fail "the job on a port in use started workers"
[ $rs = 1 ] && grep -q "rank 1: refused by the store at MASTER_ADDR 127.0.0.1:$PA: job token differs" s.txt ||
    fail "a stray worker: status $rs, $(tail -2 s.txt)"

wait $ja || fail "job A: $(tail -3 a.txt)"
wait $jb || fail "job B: $(tail -3 b.txt)"
grep -q "Epoch(val) \[3\]" a.txt && grep -q "Epoch(val) \[3\]" b.txt || fail "a job did not finish"
grep -q "randomness: seed 8" b.txt || fail "job B's seed"
# job A alone gives the same parameters as job A beside job B
# shellcheck disable=SC2086
PORT=$(free_port) "$TGC" run b64.bin --nproc 2 --work-dir alone --auto-scale-lr --cfg-options $OPTS >alone.txt 2>&1 ||
    fail "alone: $(tail -3 alone.txt)"
# --auto-scale-lr counts the world batch: 2 x 64 = the config's base_batch_size 128, so the lr stays
grep -q "LR is set based on batch size of 128 and the current batch size is 128: lr 0.05 -> 0.05" alone.txt ||
    fail "--auto-scale-lr: $(grep 'LR is set' alone.txt)"
python3 "$SRC/tests/dist/ckpt_diff.py" a/epoch_3.ckpt alone/epoch_3.ckpt --exact >/dev/null || fail "job A differs from itself alone"
echo "ok"
