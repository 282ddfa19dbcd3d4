# tests/e2e/run_det_retinanet.sh - RetinaNet end to end on a small synthetic detection set (tgc det-synth: 200
# train / 50 val images of 128 x 128): the loss falls, each validation prints pycocotools' 12 lines, the
# copypaste line and coco/bbox_mAP, the mAP clears a floor, checkpoints are written and --resume continues;
# the log and scalars.json carry loss_cls and loss_bbox after the loss.
. "$(dirname "$0")/../lib_common.sh"
export OMP_WAIT_POLICY=passive
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

mkdir -p data
"$TGC" det-synth --out data/det_synth --train 200 --val 50 --size 128 --fashion "$DATA" >/dev/null || fail "det-synth"
# The shipped small config on a 128 x 128 canvas (its data_root is data/det_synth/, relative to this folder).
"$TGC" compile "$SRC/configs/det_synth/retinanet_r18_fpn_synth.yaml" -o det.bin --cfg-options \
    'model.data_preprocessor.tgc_canvas=[128,128]' 'train_dataloader.dataset.pipeline.2.scale=[128,128]' \
    'val_dataloader.dataset.pipeline.1.scale=[128,128]' 'test_dataloader.dataset.pipeline.1.scale=[128,128]' \
    2>/dev/null || fail "compile"
# 25 iterations per epoch; no warm-up, so that 4 epochs learn something. The first run stops after 2 epochs.
OPTS="train_cfg.max_epochs=4 randomness.seed=1 param_scheduler.0.start_factor=1.0 default_hooks.logger.interval=5
 train_dataloader.num_workers=2 default_hooks.checkpoint.save_best=auto"
# shellcheck disable=SC2086
"$TGC" run det.bin --work-dir w --max-iters 50 --cfg-options $OPTS >run1.txt 2>err1.txt || fail "run: $(cat err1.txt)"
# shellcheck disable=SC2086
"$TGC" run det.bin --work-dir w --resume --cfg-options $OPTS >run2.txt 2>err2.txt || fail "resume: $(cat err2.txt)"

for f in epoch_1.ckpt epoch_2.ckpt epoch_4.ckpt last_checkpoint; do [ -s "w/$f" ] || fail "missing w/$f"; done
ls w/best_coco_bbox_mAP_epoch_*.ckpt >/dev/null 2>&1 || fail "no best checkpoint (save_best auto: coco/bbox_mAP)"
grep -q "Resuming from w/epoch_2.ckpt\|Resuming from .*iter_50.ckpt" run2.txt || fail "no resume line: $(grep -m1 Resum run2.txt)"
grep -q 'Epoch(train) \[3\]\[ 5/25\]' run2.txt || fail "the resumed run does not start at epoch 3"
! grep -q 'Epoch(train) \[[12]\]' run2.txt || fail "the resumed run repeats epochs 1-2"

cat run1.txt run2.txt >all.txt
# pycocotools' summary (12 lines, MMDetection's maxDets 100 300 1000) and MMDetection's log lines, per validation
[ "$(grep -c '^ Average Precision  (AP) @\[ IoU=0.50:0.95 | area=   all | maxDets=100 \] = ' all.txt)" = 4 ] ||
    fail "expected 4 validations with the AP line"
[ "$(grep -c '^ Average \(Precision\|Recall\) ' all.txt)" = 48 ] || fail "expected 12 summary lines per validation"
grep -q '^ Average Recall     (AR) @\[ IoU=0.50:0.95 | area=   all | maxDets=300 \] = ' all.txt || fail "no AR@300 line"
[ "$(grep -c ' - mmengine - INFO - bbox_mAP_copypaste: ' all.txt)" = 4 ] || fail "expected 4 copypaste lines"
grep -Eq 'Epoch\(val\) \[4\]\[7/7\]    coco/bbox_mAP: [0-9.]{6}  coco/bbox_mAP_50: [0-9.]{6}  coco/bbox_mAP_75: [0-9.]{6}  coco/bbox_mAP_s: -?[0-9.]+  coco/bbox_mAP_m: -?[0-9.]+  coco/bbox_mAP_l: -?[0-9.]+  data_time: ' all.txt ||
    fail "no val line with MMDetection's keys: $(grep -m1 'Epoch(val) \[4\]\[7/7\]' all.txt)"

# MMDetection's loss terms after the loss, in its order, in every train line (the first resumed one too: the
# terms' windows come back from the checkpoint with the loss's) and in scalars.json; loss = loss_cls +
# loss_bbox up to the log's 4 decimals.
python3 - all.txt w <<'PY' || fail "loss terms"
import glob, json, re, sys
lines = re.findall(r"Epoch\(train\) .*", open(sys.argv[1]).read())
assert len(lines) == 20, len(lines)
for l in lines:
    m = re.search(r"  loss: (\S+)  loss_cls: (\S+)  loss_bbox: (\S+)$", l)
    assert m, l
    total, cls, box = map(float, m.groups())
    assert abs(total - (cls + box)) <= 1.5e-4, l
recs = [json.loads(x) for f in glob.glob(sys.argv[2] + "/*/vis_data/scalars.json") for x in open(f)]
train = [r for r in recs if "loss" in r]
keys = [list(r) for r in train]
assert len(train) == 20 and all(k[k.index("loss"):k.index("loss") + 3] == ["loss", "loss_cls", "loss_bbox"]
                                for k in keys), train[:1]
assert all(abs(r["loss"] - r["loss_cls"] - r["loss_bbox"]) < 1e-5 for r in train), train[:1]
print("loss terms: %s" % lines[-1].split("  loss: ")[1])
PY

# The loss is finite and falls; the final AP50 clears a floor well below what this run reaches (measured 0.05
# at epoch 4 with this seed; 0 before training).
python3 - all.txt <<'PY' || fail "loss or mAP"
import math, re, sys
text = open(sys.argv[1]).read()
loss = [float(x) for x in re.findall(r"Epoch\(train\) \[\d\]\[ *\d+/25\].*  loss: (\S+)", text)]
assert len(loss) == 20, loss
assert all(math.isfinite(x) for x in loss), loss
first, last = sum(loss[:3]) / 3, sum(loss[-3:]) / 3
assert last < first - 0.1, (first, last)
cp = [list(map(float, l.split()[-6:])) for l in re.findall(r"bbox_mAP_copypaste: .*", text)]
assert cp[-1][1] > 0.02, cp
print("loss %.4f -> %.4f, AP50 per epoch %s" % (first, last, [c[1] for c in cp]))
PY

# tgc test: the epoch-4 checkpoint on test_dataloader (the val set) gives the epoch-4 validation's numbers;
# format_only writes the detections as COCO results instead.
"$TGC" test det.bin w/epoch_4.ckpt --work-dir t >test.txt 2>test.err || fail "test: $(cat test.err)"
grep -q 'Epoch(test) \[7/7\]    coco/bbox_mAP: ' test.txt || fail "no Epoch(test) line: $(tail -3 test.txt)"
[ "$(grep -o 'bbox_mAP_copypaste: .*' test.txt)" = "$(grep -o 'bbox_mAP_copypaste: .*' run2.txt | tail -1)" ] ||
    fail "tgc test differs from the last validation: $(grep copypaste test.txt run2.txt)"
"$TGC" test det.bin w/epoch_4.ckpt --work-dir t --cfg-options test_evaluator.format_only=True \
    test_evaluator.outfile_prefix=t/res >fmt.txt 2>fmt.err || fail "format_only: $(cat fmt.err)"
grep -q 'format_only is True, the results are saved to t/res.bbox.json' fmt.txt || fail "no format_only line"
! grep -q 'Average Precision' fmt.txt || fail "format_only evaluated"
python3 -c '
import json, sys
r = json.load(open("t/res.bbox.json"))
assert r and set(r[0]) == {"image_id", "bbox", "score", "category_id"}, r[:1]
assert {d["image_id"] for d in r} <= set(range(1, 51)) and all(1 <= d["category_id"] <= 10 for d in r)
' || fail "t/res.bbox.json"
# A bad evaluator is refused naming the key; a not implemented option is named in a warning.
set +e
"$TGC" test det.bin w/epoch_4.ckpt --work-dir t --cfg-options test_evaluator.metric=segm >/dev/null 2>err.txt
[ $? = 1 ] && grep -q "test_evaluator.metric: only the metric 'bbox' is supported" err.txt || fail "metric segm: $(cat err.txt)"
"$TGC" test det.bin w/epoch_4.ckpt --work-dir t --cfg-options test_evaluator.format_only=True >/dev/null 2>err.txt
[ $? = 1 ] && grep -q "test_evaluator: format_only needs outfile_prefix" err.txt || fail "format_only: $(cat err.txt)"
set -e
"$TGC" test det.bin w/epoch_4.ckpt --work-dir t --cfg-options test_evaluator.classwise=True >cw.txt 2>&1 || fail "classwise"
grep -q "WARNING - test_evaluator.classwise is accepted but not implemented, so ignored" cw.txt || fail "no classwise warning"
exit 0
