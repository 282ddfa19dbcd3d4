#!/usr/bin/env python3
"""tests/numerics/det_frcnn_vs_torchvision.py - tgc's Faster R-CNN loss terms against torchvision's, same weights.

torchvision's Faster R-CNN in its pretrained-weights setup (tests/numerics/torchvision_det.py; ResNet-18 here)
gets random weights (seed 0; its frozen batch norms calibrated on the batch, its background logit's bias so
that about half the RoIs are called background); they are saved under
MMDetection's names (background row of the classifier moved last, its box rows dropped) as a .pth, which the
tgc config (faster_rcnn_r18_tv.yaml: the same architecture, torchvision's SmoothL1Loss beta 1/9 and RoIAlign
sampling_ratio 2 / aligned false) loads through load_from. Both see the same normalised batch and boxes; tgc's
step runs in tgc_step_harness (the RPN's targets built by the data loader's code), torchvision's with
MMDetection's RPN anchors (the ones tgc uses) in place of its rounded ones.

Randomness removed where the two agree (torchvision_det.frcnn_sizes / frcnn_mmdet_options): both samplers take
every candidate (every assigned anchor; every proposal and ground-truth box, positive fraction 1), so the sums
do not depend on a draw; both keep the same proposal counts (NMS_PRE per level, PROPOSALS after the NMS).

What cannot be matched bit for bit, and what is compared instead: the proposals are a top-k and a greedy NMS
over float scores, so a last-bit difference in two nearly tied scores can swap a proposal at a cut-off; the
R-CNN terms are therefore compared with torchvision's RoI heads run on tgc's own proposals (the eval
program's, which equal the train step's: test_cfg.rpn = train_cfg.rpn_proposal and the same weights), and the
proposal sets are compared apart (at most PROPOSAL_SLACK of them differ). torchvision's end-to-end R-CNN terms
(its own proposals) are printed for information. Checked:

  * tgc's anchors equal MMDetection's formula (float32) to ANCHOR_TOL pixels;
  * the RPN assignment (positive, negative, ignored) is the same anchor for anchor, and so is each positive's
    box target (torchvision's low-quality match keeps the anchor's own best gt, MMDetection's takes the gt it
    is best for: no such anchor in this batch), but for ASSIGN_SLACK;
  * loss_rpn_cls and loss_rpn_bbox agree to REL_TOL (both: sum over every assigned anchor / their count);
  * the proposals of each image: the same count, and all but PROPOSAL_SLACK of tgc's within 1e-3 px + 1e-5 of
    the canvas's longer side (float32 rounding of the decoded coordinates) of one of torchvision's;
  * the R-CNN head outputs (class logits, deltas) on tgc's proposals equal torchvision's to HEAD_TOL of their
    largest magnitude;
  * loss_cls and loss_bbox agree to REL_TOL with torchvision's on the same proposals, acc (top-1 percent)
    within one RoI's share; tgc's loss is the sum of its four terms.
Exits 77 without torch/torchvision (a failure under CI=true).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

REL_TOL = 1e-5       # float32 convolutions and RoIAlign in two libraries, sums of ~10^4 terms (measured: < 1e-6)
ANCHOR_TOL = 1e-4    # pixels
HEAD_TOL = 1e-4      # of each output's largest magnitude, through ~30 layers (measured: about 1e-6)
ASSIGN_SLACK = 0
PROPOSAL_SLACK = 10  # of 2 x PROPOSALS: swaps at the top-k / NMS cut-offs from last-bit score differences
PROPOSALS = 1000     # per image after the NMS: MMDetection's train_cfg.rpn_proposal.max_per_img
NMS_PRE = 2000       # per level: MMDetection's nms_pre, torchvision's rpn_pre_nms_top_n_train
MAX_GTS = 8
FC_WIDTH = 128       # the config's bbox_head.fc_out_channels (load_from fails if torchvision's differs)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tgc", required=True)
    ap.add_argument("--harness", required=True)
    ap.add_argument("--config", default=os.path.join(HERE, "faster_rcnn_r18_tv.yaml"))
    ap.add_argument("--work", required=True)
    ap.add_argument("--depth", type=int, default=18)
    args = ap.parse_args()
    try:
        import numpy as np
        import torch
        import torchvision  # noqa: F401
        import torchvision_det as tvd
        import tgc_ckpt
    except ImportError as e:
        if os.environ.get("CI") == "true":
            print("FAIL: %s (CI=true: tools/setup.sh installs python3-torchvision)" % e)
            return 1
        print("skipped: %s" % e)
        return 77
    os.makedirs(args.work, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    opts = tvd.frcnn_mmdet_options(PROPOSALS, MAX_GTS, NMS_PRE)

    # the plan's canvas, batch and classes
    plan0 = os.path.join(args.work, "probe.plan")
    subprocess.run([args.tgc, "compile", args.config, "-o", plan0, "--cfg-options"] + opts, check=True,
                   capture_output=True)
    info = json.loads(subprocess.run([args.tgc, "inspect", plan0, "--json"], check=True, capture_output=True,
                                     text=True).stdout)
    ins = {i["name"]: i["shape"] for i in info["programs"]["train"]["inputs"]}
    n, _, h, w = ins["train/inputs"]
    classes = (info["programs"]["eval"]["outputs"][0]["shape"][2] - 6) // 5  # 4 + 1 + (C + 1) + 4C

    tv = tvd.faster_rcnn(torch, classes, depth=args.depth, anchors="mmdet", representation_size=FC_WIDTH,
                         **tvd.frcnn_sizes(PROPOSALS, MAX_GTS, NMS_PRE))
    images, targets = tvd.synthetic_batch(torch, n, h, w, classes, seed=1)
    tv_targets = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in targets]  # torchvision: 0 background
    tvd.check_transform_identity(torch, tv, images, tv_targets)
    tvd.calibrate_frozen_bn(torch, tv, images)
    tvd.calibrate_background(torch, tv, images)
    weights = os.path.join(args.work, "torchvision_faster_rcnn.pth")
    torch.save(tvd.frcnn_to_mmdet_names(tv.state_dict()), weights)

    plan = os.path.join(args.work, "plan.bin")
    subprocess.run([args.tgc, "compile", args.config, "-o", plan, "--cfg-options"] + opts + ["load_from=" + weights],
                   check=True, capture_output=True)
    g = max(len(t["boxes"]) for t in targets)
    boxes = np.zeros((n, g, 4), np.float32)
    labels = np.full((n, g), -1, np.int32)
    for i, t in enumerate(targets):
        boxes[i, :len(t["boxes"])] = t["boxes"].numpy()
        labels[i, :len(t["labels"])] = t["labels"].numpy()
    init, out = os.path.join(args.work, "init.ckpt"), os.path.join(args.work, "out.ckpt")
    tgc_ckpt.save(init, {"inputs": torch.stack(images).numpy(), "gt_bboxes": boxes, "gt_labels": labels})
    r = subprocess.run([args.harness, plan, init, out, "--eval-first", "--no-state"], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL: tgc_step_harness: %s" % r.stderr.strip())
        return 1
    t_out = tgc_ckpt.load(out)[0]
    res = tvd.frcnn_against_tgc(torch, np, tv, images, tv_targets, t_out, classes)
    terms = ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox")
    mine, own, fed = res["tgc"], res["own"], res["fed"]
    da, diff, counts, unmatched = res["anchor_diff_px"], res["assign_diff"], res["proposal_counts"], res["proposals_unmatched"]

    fails = []
    if da > ANCHOR_TOL:
        fails.append("anchors differ from MMDetection's by %g px" % da)
    if diff > ASSIGN_SLACK:
        fails.append("%d anchors assigned differently by the RPN" % diff)
    if res["rpn_target_diff"] > ASSIGN_SLACK:
        fails.append("%d RPN positives have another box target than torchvision's" % res["rpn_target_diff"])
    if res["num_pos"][0] != res["num_pos"][1]:
        fails.append("RPN positives per image: tgc %s, torchvision %s" % res["num_pos"])
    if any(x != y for x, y in counts):
        fails.append("proposals per image (tgc, torchvision): %s" % counts)
    if unmatched > PROPOSAL_SLACK:
        fails.append("%d of tgc's proposals are not torchvision's (> %d)" % (unmatched, PROPOSAL_SLACK))
    for name, e in zip(("logits", "deltas"), res["head_err"]):
        if not e <= HEAD_TOL:
            fails.append("R-CNN head %s on tgc's proposals differ by %.2e of their scale (> %.0e)" % (name, e, HEAD_TOL))
    for k in ("loss_rpn_cls", "loss_rpn_bbox"):
        if not rel(mine[k], own[k]) <= REL_TOL:
            fails.append("%s: tgc %.7g, torchvision %.7g (relative %.2e > %.0e)" % (k, mine[k], own[k],
                                                                                   rel(mine[k], own[k]), REL_TOL))
    for k in ("loss_cls", "loss_bbox"):
        if not rel(mine[k], fed[k]) <= REL_TOL:
            fails.append("%s: tgc %.7g, torchvision on tgc's proposals %.7g (relative %.2e > %.0e)" %
                         (k, mine[k], fed[k], rel(mine[k], fed[k]), REL_TOL))
    if not abs(mine["acc"] - fed["acc"]) <= 100.0 / fed["rois"] + 1e-4:
        fails.append("acc: tgc %.4f, torchvision on tgc's proposals %.4f (more than one of %d RoIs)" %
                     (mine["acc"], fed["acc"], fed["rois"]))
    if not rel(res["tgc_loss"], sum(mine[k] for k in terms)) <= 1e-6:
        fails.append("loss %.7g is not the sum of its four terms" % res["tgc_loss"])

    print("Faster R-CNN R%d-FPN, %d classes, batch %d at %dx%d, %d anchors; RPN positives per image %s of %d "
          "assigned; assignment differs at %d anchors; anchors within %.2g px of MMDetection's" %
          (args.depth, classes, n, h, w, t_out["cls_target"].shape[1], res["num_pos"][0], res["rpn_assigned"], diff,
           da))
    print("  RPN positives with another box target %d; proposals per image (tgc, torchvision) %s, %d of tgc's not "
          "within %.2g px of torchvision's (the farthest %.2g px); R-CNN on tgc's proposals: %d RoIs (%d positive); "
          "head outputs within %.1e (logits), %.1e (deltas) of their largest magnitude" %
          (res["rpn_target_diff"], counts, unmatched, res["proposal_tol"], res["proposal_max_dist"], fed["rois"],
           fed["roi_pos"], res["head_err"][0], res["head_err"][1]))
    print("  %-44s %13s %13s %13s %13s %9s" % ("", "loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "acc"))
    print("  %-44s %13.7f %13.7f %13.7f %13.7f %9.4f" % (("tgc",) + tuple(mine[k] for k in terms + ("acc",))))
    for label, d in (("torchvision, R-CNN on tgc's proposals", fed), ("torchvision end to end (its own proposals)", own)):
        print("  %-44s %13.7f %13.7f %13.7f %13.7f %9.4f" % ((label,) + tuple(d[k] for k in terms + ("acc",))))
        print("  %-44s %13s %13s %13s %13s" % (("  relative to tgc",) + tuple("%+.1e" % ((d[k] - mine[k]) / mine[k])
                                                                        for k in terms)))
    for f in fails:
        print("FAIL: " + f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
