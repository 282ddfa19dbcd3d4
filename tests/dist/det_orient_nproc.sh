# tests/dist/det_orient_nproc.sh - two orientations on 2 workers: the RetinaNet synthetic config on a 128 x 256
# canvas with AspectRatioBatchSampler (train/eval plus train_portrait/eval_portrait), 200 training images of
# which 0.3 are portrait, batch 4 per worker. The sampler does not shuffle, so rank 0 takes the even images and
# rank 1 the odd ones, which hold different numbers of portrait images (computed here from the annotation
# file): each rank still runs K = 100 / 4 - 1 = 24 steps per epoch, the all-reduces stay in lockstep (a
# mismatch would stop the run at the collectives' timeout), the losses are finite over 3 epochs. `tgc test` of
# the checkpoint in 1 and in 2 processes writes the same COCO results and prints the same numbers (each rank
# evaluates its shard grouped by orientation; of the 39 val images rank 1's 20th is the sampler's repeat of
# image 0, left out by its position).
. "$(dirname "$0")/lib.sh"

mkdir -p data
"$TGC" det-synth --out data/det_synth --train 200 --val 39 --size 128x256 --portrait 0.3 --fashion "$DATA" \
    >/dev/null || fail "det-synth"
cat >orient.yaml <<EOF
_base_: $SRC/configs/det_synth/retinanet_r18_fpn_synth.yaml
model:
  data_preprocessor:
    tgc_canvas: [128, 256]
train_dataloader:
  batch_size: 4
  sampler:
    type: DefaultSampler
    shuffle: false
  batch_sampler:
    _delete_: true
    type: AspectRatioBatchSampler
val_dataloader:
  batch_size: 4
test_dataloader:
  batch_size: 4
EOF
SCALES="train_dataloader.dataset.pipeline.2.scale=[256,128] val_dataloader.dataset.pipeline.1.scale=[256,128]
 test_dataloader.dataset.pipeline.1.scale=[256,128]"
# shellcheck disable=SC2086
"$TGC" compile orient.yaml -o det.bin --cfg-options $SCALES >compile.txt 2>&1 || fail "compile: $(tail -3 compile.txt)"

# each rank's buckets, as tgc_group_batches fills them: rank r walks images r, r + 2, ...
python3 - data/det_synth/annotations/instances_train.json >expect.txt <<'PY' || fail "expected groups"
import json, sys
ims = json.load(open(sys.argv[1]))["images"]
out = []
for rank in (0, 1):
    fill, got = [0, 0], [0, 0]
    for im in ims[rank::2]:
        o = int(im["width"] < im["height"])
        fill[o] += 1
        if fill[o] == 4 and sum(got) < 24:
            got[o] += 1
            fill[o] = 0
    out.append(got)
assert out[0] != out[1], out  # the ranks run different programs in some steps
print("%d %d %d %d" % (out[0][0], out[0][1], out[1][0], out[1][1]))
PY
read -r L0 P0 L1 P1 <expect.txt
echo "rank 0: $L0 landscape / $P0 portrait batches; rank 1: $L1 landscape / $P1 portrait"

OPTS="train_cfg.max_epochs=3 randomness.seed=5 param_scheduler.0.start_factor=1.0 default_hooks.logger.interval=8"
# shellcheck disable=SC2086
PORT=$(free_port) "$TGC" run det.bin --nproc 2 --work-dir two --cfg-options $OPTS >two.txt 2>&1 ||
    fail "2 workers: $(tail -3 two.txt)"
grep -q "Distributed: 2 processes (--launcher pytorch), gloo collectives" two.txt || fail "not distributed"
grep -q "INFO - Epoch 1: $L0 landscape / $P0 portrait batches (train / train_portrait), 4 images left over" two.txt ||
    fail "rank 0's groups: $(grep 'landscape /' two.txt)"
python3 - two.txt <<'PY' || fail "losses"
import math, re, sys
loss = [float(x) for x in re.findall(r"Epoch\(train\) \[\d\]\[ *\d+/24\].*  loss: (\S+)", open(sys.argv[1]).read())]
assert len(loss) == 9 and all(math.isfinite(x) for x in loss), loss
print("losses (2 workers): %s" % loss)
PY
[ -s two/epoch_3.ckpt ] || fail "no checkpoint"
[ "$(grep -c 'bbox_mAP_copypaste' two.txt)" = 3 ] || fail "expected three COCO evaluations"

"$TGC" test det.bin two/epoch_3.ckpt --work-dir t1 --cfg-options test_evaluator.outfile_prefix=t1/res >t1.txt 2>&1 ||
    fail "test: $(tail -3 t1.txt)"
PORT=$(free_port) "$TGC" test det.bin two/epoch_3.ckpt --nproc 2 --work-dir t2 --cfg-options \
    test_evaluator.outfile_prefix=t2/res >t2.txt 2>&1 || fail "test --nproc 2: $(tail -3 t2.txt)"
copypaste() { grep -o 'bbox_mAP_copypaste: .*' "$1"; }
n=$(python3 -c "import json, sys; print(len(json.load(open(sys.argv[1]))))" t1/res.bbox.json) || fail "no result file"
[ "$n" -ge 1 ] || fail "no detections"
cmp -s t1/res.bbox.json t2/res.bbox.json || fail "test --nproc 2 wrote other detections than one process"
[ -n "$(copypaste t1.txt)" ] && [ "$(copypaste t1.txt)" = "$(copypaste t2.txt)" ] ||
    fail "tgc test: 1 process $(copypaste t1.txt), 2 processes $(copypaste t2.txt)"
echo "tgc test, 1 and 2 processes ($n detections): $(copypaste t1.txt)"
exit 0
