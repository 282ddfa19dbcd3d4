# tests/dist/faults.sh - a failing worker ends the job: a worker killed mid-run (the launcher names the rank
# and the signal, the other rank stops, within a bounded time); a missing node (NNODES=2, one started)
# times out with a message naming the rank that did not join, and so does a node whose master never
# came; Ctrl-C (SIGINT to the launcher) stops every worker after the same iteration with a checkpoint and
# leaves no process behind; a launcher killed outright takes its workers with it.
. "$(dirname "$0")/lib.sh"

LONG="$DATAOPTS train_dataloader.dataset.indices=1024 val_dataloader.dataset.indices=256 train_cfg.max_epochs=500
 randomness.seed=7 default_hooks.logger.interval=1"

# elapsed seconds since $1 (date +%s.%N)
since() { python3 -c "import sys, time; print('%.1f' % (time.time() - float(sys.argv[1])))" "$1"; }
gone() { # every pid given has exited (within ~5 s)
    for p in "$@"; do
        i=0
        while kill -0 "$p" 2>/dev/null; do
            [ $i -lt 500 ] || return 1
            sleep 0.01
            i=$((i + 1))
        done
    done
}

# 1. SIGKILL to rank 1 mid-run
# shellcheck disable=SC2086
PORT=$(free_port) "$TGC" run b64.bin --nproc 2 --work-dir k --cfg-options $LONG >k.txt 2>&1 &
L=$!
bg_track $L
wait_for k.txt "Epoch(train) *\[1\]\[4/8\]"
r1=$(worker_of_rank $L 1)
r0=$(worker_of_rank $L 0)
[ -n "$r1" ] && [ -n "$r0" ] || fail "no workers found under launcher $L"
t0=$(date +%s.%N)
kill -KILL "$r1"
set +e
wait $L
rc=$?
set -e
el=$(since "$t0")
[ $rc = 137 ] || fail "job status $rc after rank 1 was killed (want 137): $(tail -3 k.txt)"
grep -q "tgc: rank 1 (pid $r1) was killed by signal 9 (SIGKILL); stopping the other workers" k.txt ||
    fail "no message naming rank 1 and SIGKILL: $(tail -3 k.txt)"
gone "$r0" || fail "rank 0 still runs"
python3 -c "import sys; sys.exit(float(sys.argv[1]) > 15)" "$el" || fail "the job took $el s to end"
echo "killed worker: job ended in $el s, status $rc"

# 2. a missing node: NNODES=2 and only node 0 started; then only node 1
t0=$(date +%s.%N)
set +e
# shellcheck disable=SC2086
NNODES=2 NODE_RANK=0 PORT=$(free_port) TGC_DIST_TIMEOUT=2 "$TGC" run b64.bin --nproc 1 --work-dir m --cfg-options $LONG >m.txt 2>&1
rc=$?
# shellcheck disable=SC2086
NNODES=2 NODE_RANK=1 PORT=$(free_port) TGC_DIST_TIMEOUT=2 "$TGC" run b64.bin --nproc 1 --work-dir m1 --cfg-options $LONG >m1.txt 2>&1
rc1=$?
set -e
el=$(since "$t0")
[ $rc = 1 ] && grep -q "timed out after 2 s: rank 1 of 2 did not join" m.txt || fail "missing node 1: status $rc, $(tail -2 m.txt)"
[ $rc1 = 1 ] && grep -q "rank 1: could not connect to the store at MASTER_ADDR 127.0.0.1:[0-9]* within 2 s" m1.txt ||
    fail "missing node 0: status $rc1, $(tail -2 m1.txt)"
python3 -c "import sys; sys.exit(float(sys.argv[1]) > 15)" "$el" || fail "missing nodes took $el s"

# 3. Ctrl-C: SIGINT to the launcher only (workers have their own process groups)
# shellcheck disable=SC2086
PORT=$(free_port) "$TGC" run b64.bin --nproc 2 --work-dir c --cfg-options $LONG >c.txt 2>&1 &
L=$!
bg_track $L
wait_for c.txt "Epoch(train) *\[1\]\[3/8\]"
pids=$(workers $L)
kill -INT $L
set +e
wait $L
rc=$?
set -e
[ $rc = 130 ] || fail "status $rc after SIGINT (want 130): $(tail -3 c.txt)"
# shellcheck disable=SC2086
gone $pids || fail "workers left after SIGINT: $pids"
grep -q "Interrupted by SIGINT after iteration" c.txt || fail "no interruption message: $(tail -3 c.txt)"
ck=$(cat c/last_checkpoint)
[ -s "$ck" ] || fail "no checkpoint after SIGINT"
grep -q "Resume with: tgc run b64.bin --nproc 2 --work-dir c --resume $ck" c.txt || fail "no resume hint: $(grep Resume c.txt)"
# ... and the job resumes from it with two workers
# shellcheck disable=SC2086
PORT=$(free_port) "$TGC" run b64.bin --nproc 2 --work-dir c --resume --max-iters 20 --no-validate --cfg-options $LONG \
    >c2.txt 2>&1 || fail "resume: $(tail -3 c2.txt)"
grep -q "Resuming from $ck" c2.txt || fail "did not resume from $ck"

# 4. the launcher killed outright: its workers get SIGTERM (PR_SET_PDEATHSIG) and stop
# shellcheck disable=SC2086
PORT=$(free_port) "$TGC" run b64.bin --nproc 2 --work-dir d --cfg-options $LONG >d.txt 2>&1 &
L=$!
bg_track $L
wait_for d.txt "Epoch(train) *\[1\]\[3/8\]"
pids=$(workers $L)
kill -KILL $L
wait $L 2>/dev/null || true
# shellcheck disable=SC2086
gone $pids || fail "orphaned workers after the launcher was killed: $pids"
echo "ok"
