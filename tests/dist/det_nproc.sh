# tests/dist/det_nproc.sh - RetinaNet with 2 workers (tgc run --nproc 2) on a small synthetic detection set:
# 1 worker at batch 8 vs 2 workers at batch 4, same seed, 2 epochs of 25 global batches. Not equal to float
# rounding as LeNet5 is in equivalence.sh: batch norm statistics are per worker (DDP without SyncBN) and
# RetinaNet's avg_factor is per worker (MMDetection's AnchorHead does not reduce it over workers), so the
# check is that both learn alike: the 2-worker run validates the whole val set once per epoch on rank 0,
# only rank 0 writes, and its last logged loss is within 2% of the 1-worker run's.
. "$(dirname "$0")/lib.sh"

mkdir -p data
"$TGC" det-synth --out data/det_synth --train 200 --val 50 --size 128 --fashion "$DATA" >/dev/null || fail "det-synth"
for b in 8 4; do
    "$TGC" compile "$SRC/configs/det_synth/retinanet_r18_fpn_synth.yaml" -o det$b.bin --cfg-options \
        'model.data_preprocessor.tgc_canvas=[128,128]' 'train_dataloader.dataset.pipeline.2.scale=[128,128]' \
        'val_dataloader.dataset.pipeline.1.scale=[128,128]' train_dataloader.batch_size=$b >/dev/null 2>&1 ||
        fail "compile batch $b"
done
OPTS="train_cfg.max_epochs=2 randomness.seed=5 randomness.deterministic=True param_scheduler.0.start_factor=1.0
 default_hooks.logger.interval=5"
# shellcheck disable=SC2086
"$TGC" run det8.bin --work-dir one --cfg-options $OPTS >one.txt 2>&1 || fail "1 worker: $(tail -3 one.txt)"
# shellcheck disable=SC2086
PORT=$(free_port) "$TGC" run det4.bin --nproc 2 --work-dir two --cfg-options $OPTS >two.txt 2>&1 ||
    fail "2 workers: $(tail -3 two.txt)"

grep -q "Distributed: 2 processes (--launcher pytorch), gloo collectives" two.txt || fail "not distributed"
grep -q "Epoch(train) \[2\]\[25/25\]" two.txt || fail "2 workers: not 25 global batches per epoch"
[ "$(grep -c 'bbox_mAP_copypaste' two.txt)" = 2 ] || fail "2 workers: expected one COCO evaluation per epoch"
[ "$(grep -c '^ Average Precision  (AP) @\[ IoU=0.50:0.95 | area=   all' two.txt)" = 2 ] ||
    fail "2 workers: the summary is not printed once per epoch"
[ "$(find two -mindepth 1 -maxdepth 1 -type d | wc -l)" = 1 ] || fail "more than one log folder in two/: $(ls two)"
[ -s two/epoch_2.ckpt ] || fail "no checkpoint"
loss() { sed -n 's/.*Epoch(train) \[2\]\[25\/25\].*loss: \([0-9.]*\).*/\1/p' "$1"; }
l1=$(loss one.txt)
l2=$(loss two.txt)
python3 -c "import sys; a, b = map(float, sys.argv[1:]); sys.exit(not abs(a - b) <= 0.02 * a)" "$l1" "$l2" ||
    fail "the last loss differs by more than 2%: 1 worker $l1, 2 workers $l2"
echo "last loss: 1 worker $l1, 2 workers $l2; copypaste: $(grep -o 'bbox_mAP_copypaste.*' one.txt | tail -1) vs $(grep -o 'bbox_mAP_copypaste.*' two.txt | tail -1)"
echo "ok"
