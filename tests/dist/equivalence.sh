# tests/dist/equivalence.sh - data parallelism changes nothing but the speed: LeNet5 on a Fashion-MNIST subset
# (4096 training images, 1000 for validation, one epoch, seed 7, deterministic, one thread per process):
#   1 worker at batch 128  vs  2 workers at batch 64 (tgc run --nproc 2)  vs  two "nodes" on loopback
#   (NNODES=2, NODE_RANK=0/1, --nproc 1 each).
# The global batches are the same (DefaultSampler shards by rank), so after 32 steps every parameter and
# momentum agrees with the 1-worker run to float rounding, top-1 is within 0.5%, and the two launches of
# the 2-rank job agree bit for bit. Only rank 0 writes a log folder.
. "$(dirname "$0")/lib.sh"

OPTS="$DATAOPTS train_dataloader.dataset.indices=4096 val_dataloader.dataset.indices=1000 train_cfg.max_epochs=1
 randomness.seed=7 randomness.deterministic=True default_hooks.logger.interval=8"
# shellcheck disable=SC2086
"$TGC" run b128.bin --work-dir one --cfg-options $OPTS >one.txt 2>&1 || fail "1 worker: $(tail -3 one.txt)"
# shellcheck disable=SC2086
PORT=$(free_port) "$TGC" run b64.bin --nproc 2 --work-dir two --cfg-options $OPTS >two.txt 2>&1 ||
    fail "2 workers: $(tail -3 two.txt)"
P=$(free_port)
# shellcheck disable=SC2086
NNODES=2 NODE_RANK=1 MASTER_ADDR=127.0.0.1 PORT=$P "$TGC" run b64.bin --nproc 1 --work-dir node1 --cfg-options $OPTS \
    >node1.txt 2>&1 &
n1=$!
bg_track $n1
# shellcheck disable=SC2086
NNODES=2 NODE_RANK=0 MASTER_ADDR=127.0.0.1 PORT=$P "$TGC" run b64.bin --nproc 1 --work-dir node0 --cfg-options $OPTS \
    >node0.txt 2>&1 || fail "node 0: $(tail -3 node0.txt)"
wait $n1 || fail "node 1: $(tail -3 node1.txt)"

grep -q "starting 2 workers on node 0 of 1 (ranks 0..1 of 2)" two.txt || fail "no launch line: $(head -2 two.txt)"
grep -q "Distributed: 2 processes (--launcher pytorch), gloo collectives" two.txt || fail "not distributed"
grep -q "ranks 1..1 of 2" node1.txt || fail "node 1 did not start rank 1: $(head -1 node1.txt)"
! grep -q "Epoch(train)" node1.txt || fail "rank 1 wrote log lines"
[ "$(find two -mindepth 1 -maxdepth 1 -type d | wc -l)" = 1 ] || fail "more than one log folder in two/: $(ls two)"
[ ! -e node1/epoch_1.ckpt ] || fail "rank 1 saved a checkpoint"

# the same number of iterations (32 global batches of 128) in both
grep -q "Epoch(train) \[1\]\[32/32\]" one.txt || fail "1 worker: not 32 iterations"
grep -q "Epoch(train) \[1\]\[32/32\]" two.txt || fail "2 workers: not 32 iterations"

# parameters and momentum buffers after 32 steps: float rounding apart
d=$(python3 "$SRC/tests/dist/ckpt_diff.py" one/epoch_1.ckpt two/epoch_1.ckpt --max-rel 1e-4) ||
    fail "2 workers at batch 64 diverge from 1 worker at batch 128: $d"
echo "1 worker vs 2 workers: $d"
d=$(python3 "$SRC/tests/dist/ckpt_diff.py" two/epoch_1.ckpt node0/epoch_1.ckpt --exact) ||
    fail "two nodes on loopback differ from 2 workers on one node: $d"

# top-1 within 0.5%
acc() { sed -n 's/.*Epoch(val).*accuracy\/top1: \([0-9.]*\).*/\1/p' "$1" | tail -1; }
a1=$(acc one.txt)
a2=$(acc two.txt)
a3=$(acc node0.txt)
python3 -c "import sys; a, b, c = map(float, sys.argv[1:]); sys.exit(not (abs(a - b) <= 0.5 and b == c))" "$a1" "$a2" "$a3" ||
    fail "top-1: 1 worker $a1, 2 workers $a2, two nodes $a3"
echo "top-1: 1 worker $a1, 2 workers $a2, two nodes $a3"
echo "ok"
