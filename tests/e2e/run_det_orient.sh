# tests/e2e/run_det_orient.sh - detection with two canvas orientations: `tgc det-synth --size 128x256 --portrait
# 0.3` (landscape 128 x 256 images, about every third one transposed), the synthetic RetinaNet config on a
# 128 x 256 canvas with AspectRatioBatchSampler, so the plan holds train/eval and train_portrait/eval_portrait.
# Three epochs: every epoch runs K = 200 / 8 - 1 = 24 batches of one orientation, some of each (the log's
# count), the losses are finite, each validation runs eval and eval_portrait over every image and prints the
# COCO summary; a run stopped at iteration 10 and resumed (another num_workers) ends epoch 1 with the weights of
# the uninterrupted run; `tgc test` gives the last validation's numbers, with detections on portrait images.
# Then Faster R-CNN on the same set for one short epoch.
. "$(dirname "$0")/../lib_common.sh"
export OMP_WAIT_POLICY=passive
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

mkdir -p data
"$TGC" det-synth --out data/det_synth --train 200 --val 40 --size 128x256 --portrait 0.3 --fashion "$DATA" \
    >/dev/null || fail "det-synth"
cat >orient.yaml <<EOF
_base_: $SRC/configs/det_synth/retinanet_r18_fpn_synth.yaml
model:
  data_preprocessor:
    tgc_canvas: [128, 256]
train_dataloader:
  batch_sampler:
    _delete_: true
    type: AspectRatioBatchSampler
EOF
SCALES="train_dataloader.dataset.pipeline.2.scale=[256,128] val_dataloader.dataset.pipeline.1.scale=[256,128]
 test_dataloader.dataset.pipeline.1.scale=[256,128]"
# shellcheck disable=SC2086
"$TGC" compile orient.yaml -o det.bin --cfg-options $SCALES >compile.txt 2>&1 || fail "compile: $(tail -3 compile.txt)"
"$TGC" inspect det.bin >inspect.txt 2>&1 || fail "inspect: $(tail -3 inspect.txt)"
for prog in train eval train_portrait eval_portrait; do
    grep -q "^programs:.* $prog (batch 8," inspect.txt || fail "the plan has no $prog program: $(grep '^programs:' inspect.txt)"
done

# 3 epochs of K = 200 / 8 - 1 = 24 batches; no warm-up, so that something is learnt
OPTS="randomness.seed=4 randomness.deterministic=True param_scheduler.0.start_factor=1.0 default_hooks.logger.interval=8"
# shellcheck disable=SC2086
"$TGC" run det.bin --work-dir w --cfg-options $OPTS train_cfg.max_epochs=3 train_dataloader.num_workers=2 \
    >run.txt 2>err.txt || fail "run: $(tail -3 err.txt)"
python3 - run.txt <<'PY' || fail "orientation groups"
import math, re, sys
text = open(sys.argv[1]).read()
ep = re.findall(r"INFO - Epoch (\d+): (\d+) landscape / (\d+) portrait batches \(train / train_portrait\), "
                r"(\d+) images? left over", text)
assert len(ep) == 3, ep
for e, l, p, left in ep:
    l, p, left = int(l), int(p), int(left)
    assert l + p == 24 and l > 0 and p > 0 and left == 200 - 8 * 24, (e, l, p, left)
    print("epoch %s: %d landscape / %d portrait batches, %d images left over" % (e, l, p, left))
val = re.findall(r"Batches of one orientation: (\d+) landscape / (\d+) portrait", text)
assert len(val) == 3 and all(int(l) > 0 and int(p) > 0 and int(l) + int(p) <= 7 for l, p in val), val
loss = [float(x) for x in re.findall(r"Epoch\(train\) \[\d\]\[ *\d+/24\].*  loss: (\S+)", text)]
assert len(loss) == 9 and all(math.isfinite(x) for x in loss), loss
cp = re.findall(r"bbox_mAP_copypaste: (.*)", text)
assert len(cp) == 3, cp
print("losses %s; copypaste %s" % (loss, cp))
PY
[ "$(grep -c '^ Average Precision  (AP) @\[ IoU=0.50:0.95 | area=   all | maxDets=100 \] = ' run.txt)" = 3 ] ||
    fail "expected 3 validations with the AP line"
grep -q "Epoch(val) \[3\]\[" run.txt || fail "no Epoch(val) line for epoch 3"

# stopped at iteration 10 and resumed with another num_workers: epoch 1 ends with the same weights
# shellcheck disable=SC2086
"$TGC" run det.bin --work-dir r --max-iters 10 --cfg-options $OPTS train_cfg.max_epochs=1 >r1.txt 2>&1 ||
    fail "run to 10: $(tail -3 r1.txt)"
# shellcheck disable=SC2086
"$TGC" run det.bin --work-dir r --resume --cfg-options $OPTS train_cfg.max_epochs=1 train_dataloader.num_workers=0 \
    >r2.txt 2>&1 || fail "resume: $(tail -3 r2.txt)"
grep -q "Resuming from" r2.txt || fail "no resume line"
d=$(python3 "$SRC/tests/dist/ckpt_diff.py" w/epoch_1.ckpt r/epoch_1.ckpt --exact) ||
    fail "stopped at 10 and resumed differs from the uninterrupted run: $d"

# tgc test on the last checkpoint: the last validation's numbers, detections on images of both orientations
"$TGC" test det.bin w/epoch_3.ckpt --work-dir t --cfg-options test_evaluator.outfile_prefix=t/res >test.txt 2>test.err ||
    fail "test: $(cat test.err)"
[ "$(grep -o 'bbox_mAP_copypaste: .*' test.txt)" = "$(grep -o 'bbox_mAP_copypaste: .*' run.txt | tail -1)" ] ||
    fail "tgc test differs from the last validation: $(grep copypaste test.txt run.txt)"
python3 - data/det_synth/annotations/instances_val.json t/res.bbox.json <<'PY' || fail "detections"
import json, sys
ims = {im["id"]: im for im in json.load(open(sys.argv[1]))["images"]}
res = json.load(open(sys.argv[2]))
por = [r for r in res if ims[r["image_id"]]["width"] < ims[r["image_id"]]["height"]]
assert por and len(por) < len(res), (len(por), len(res))
# a portrait image's boxes lie within its 128 x 256 (w x h) frame
assert all(r["bbox"][0] + r["bbox"][2] <= 128.01 and r["bbox"][1] + r["bbox"][3] <= 256.01 for r in por)
print("tgc test: %d detections, %d on portrait images" % (len(res), len(por)))
PY
# Faster R-CNN on the same set (its RPN targets, padded gts and img_shape on the portrait canvas): one epoch of
# the first 80 images (K = 80 / 8 - 1 = 9 batches), finite losses, a validation over both programs.
cat >frcnn.yaml <<EOF
_base_: $SRC/configs/det_synth/faster-rcnn_r18_fpn_synth.yaml
model:
  data_preprocessor:
    tgc_canvas: [128, 256]
train_dataloader:
  batch_sampler:
    _delete_: true
    type: AspectRatioBatchSampler
EOF
# shellcheck disable=SC2086
"$TGC" compile frcnn.yaml -o fr.bin --cfg-options $SCALES >frc.txt 2>&1 || fail "compile Faster R-CNN: $(tail -3 frc.txt)"
# shellcheck disable=SC2086
"$TGC" run fr.bin --work-dir fw --cfg-options $OPTS train_cfg.max_epochs=1 train_dataloader.dataset.indices=80 \
    val_dataloader.dataset.indices=24 >fr.txt 2>&1 || fail "Faster R-CNN: $(tail -3 fr.txt)"
python3 - fr.txt <<'PY' || fail "Faster R-CNN with two orientations"
import math, re, sys
text = open(sys.argv[1]).read()
ep = re.findall(r"INFO - Epoch 1: (\d+) landscape / (\d+) portrait batches", text)
assert len(ep) == 1 and int(ep[0][0]) + int(ep[0][1]) == 9 and int(ep[0][1]) > 0, ep
val = re.findall(r"Batches of one orientation: (\d+) landscape / (\d+) portrait", text)
assert len(val) == 1 and int(val[0][1]) > 0, val
terms = re.findall(r"Epoch\(train\) \[1\]\[8/9\].*  loss: (\S+)  loss_rpn_cls: (\S+)  loss_rpn_bbox: (\S+)  loss_cls: (\S+)", text)
assert len(terms) == 1 and all(math.isfinite(float(x)) for x in terms[0]), terms
assert len(re.findall(r"bbox_mAP_copypaste: ", text)) == 1
print("Faster R-CNN: %s / %s batches, loss %s" % (ep[0][0], ep[0][1], terms[0][0]))
PY
exit 0
