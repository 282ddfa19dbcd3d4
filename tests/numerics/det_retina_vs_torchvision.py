#!/usr/bin/env python3
"""tests/numerics/det_retina_vs_torchvision.py - tgc's RetinaNet loss terms against torchvision's, same weights.

torchvision's RetinaNet in its pretrained-weights setup (tests/numerics/torchvision_det.py) gets random weights
(seed 0; its frozen batch norms calibrated on the batch); they are saved under MMDetection's names as a .pth,
which the tgc config (retinanet_r18_tv.yaml: the same architecture) loads through load_from. Both see the same
normalised batch and ground-truth boxes. tgc's step runs in tgc_step_harness (targets built by the data
loader's code: anchors, MaxIoUAssigner, box coder); torchvision's with MMDetection's anchors (the ones tgc
uses) in place of its rounded ones. Checked:

  * the head outputs of the first image (tgc's eval program, det_out: class logits and box deltas of every
    anchor, all five levels) equal torchvision's to HEAD_TOL of each tensor's largest magnitude;
  * tgc's anchors equal MMDetection's formula (float32) to 1e-4 pixels;
  * the assignment (class of each positive, negatives, ignored anchors) is the same anchor for anchor, except
    at most ASSIGN_SLACK anchors where torchvision's low-quality rule differs (it keeps an anchor's own best
    gt, MMDetection gives it the gt it is best for);
  * loss_cls and loss_bbox agree to REL_TOL relative once torchvision's per-image normaliser is replaced by
    MMDetection's batch one (sum over the batch / sum of max(1, positives));
  * tgc's loss output is loss_cls + loss_bbox.

Printed for information: torchvision's own loss terms (its normaliser) and those with its own anchors.
Exits 77 without torch/torchvision (a failure under CI=true).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

REL_TOL = 1e-5     # float32 convolutions in two libraries and sums of ~10^5 terms (measured: 1e-7)
ANCHOR_TOL = 1e-4  # pixels
HEAD_TOL = 1e-4    # float32 convolutions through ~40 layers (measured: about 1e-6)
ASSIGN_SLACK = 0


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tgc", required=True)
    ap.add_argument("--harness", required=True)
    ap.add_argument("--config", default=os.path.join(HERE, "retinanet_r18_tv.yaml"))
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

    # the plan's canvas, batch and classes
    plan0 = os.path.join(args.work, "probe.plan")
    subprocess.run([args.tgc, "compile", args.config, "-o", plan0], check=True, capture_output=True)
    info = json.loads(subprocess.run([args.tgc, "inspect", plan0, "--json"], check=True, capture_output=True,
                                     text=True).stdout)
    ins = {i["name"]: i["shape"] for i in info["programs"]["train"]["inputs"]}
    n, _, h, w = ins["train/inputs"]
    classes = info["programs"]["eval"]["outputs"][0]["shape"][2] - 4

    tv = tvd.retinanet(torch, args.depth, classes, anchors="mmdet")
    images, targets = tvd.synthetic_batch(torch, n, h, w, classes, seed=1)
    tvd.check_transform_identity(torch, tv, images, targets)
    tvd.calibrate_frozen_bn(torch, tv, images)
    weights = os.path.join(args.work, "torchvision_retinanet.pth")
    torch.save(tvd.to_mmdet_names(tv.state_dict()), weights)

    plan = os.path.join(args.work, "plan.bin")
    subprocess.run([args.tgc, "compile", args.config, "-o", plan, "--cfg-options", "load_from=" + weights],
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

    with torch.no_grad():
        tv.eval()
        ho = tv.head(list(tv.backbone(images[0][None]).values()))
    det = t_out["eval.logits"][0]
    head_err = {}
    for name, ref, got in (("logits", ho["cls_logits"][0].numpy(), det[:, :classes]),
                           ("deltas", ho["bbox_regression"][0].numpy(), det[:, classes:])):
        head_err[name] = float(np.abs(got - ref).max() / np.abs(ref).max())
    mine = tvd.retina_losses(torch, tv, images, targets)
    stock = tvd.retinanet(torch, args.depth, classes, anchors="torchvision")
    stock.load_state_dict(tv.state_dict())
    theirs = tvd.retina_losses(torch, stock, images, targets)

    fails = []
    for name, e in head_err.items():
        if not e <= HEAD_TOL:
            fails.append("head %s of image 0 differ by %.2e of their scale (> %.0e)" % (name, e, HEAD_TOL))
    da = float(np.abs(t_out["anchors"] - mine["anchors"].numpy()).max())
    if da > ANCHOR_TOL:
        fails.append("anchors differ from MMDetection's by %g px" % da)
    tgt = t_out["cls_target"]
    diff = int((tgt != mine["targets"].numpy()).sum())
    if diff > ASSIGN_SLACK:
        fails.append("%d anchors assigned differently" % diff)
    if list(t_out["num_pos"]) != mine["num_pos"]:
        fails.append("positives per image: tgc %s, torchvision %s" % (list(t_out["num_pos"]), mine["num_pos"]))
    lc, lb, lt = float(t_out["step1/loss_cls"]), float(t_out["step1/loss_bbox"]), float(t_out["step1/loss"])
    for name, a, b in (("loss_cls", lc, mine["mmdet_cls"]), ("loss_bbox", lb, mine["mmdet_bbox"])):
        if not rel(a, b) <= REL_TOL:
            fails.append("%s: tgc %.7g, torchvision %.7g (relative %.2e > %.0e)" % (name, a, b, rel(a, b), REL_TOL))
    if not rel(lt, lc + lb) <= 1e-6:
        fails.append("loss %.7g is not loss_cls + loss_bbox %.7g" % (lt, lc + lb))

    print("RetinaNet R%d-FPN, %d classes, batch %d at %dx%d, %d anchors; positives per image %s; "
          "assignment differs at %d anchors; anchors within %.2g px of MMDetection's" %
          (args.depth, classes, n, h, w, tgt.shape[1], list(t_out["num_pos"]), diff, da))
    print("  head outputs of image 0: logits within %.1e, deltas within %.1e of their largest magnitude" %
          (head_err["logits"], head_err["deltas"]))
    print("  %-58s %12s %12s" % ("", "loss_cls", "loss_bbox"))
    print("  %-58s %12.7f %12.7f" % ("tgc", lc, lb))
    print("  %-58s %12.7f %12.7f  (rel %.1e, %.1e)" % ("torchvision, MMDetection's anchors and normaliser",
                                                        mine["mmdet_cls"], mine["mmdet_bbox"],
                                                        rel(lc, mine["mmdet_cls"]), rel(lb, mine["mmdet_bbox"])))
    print("  %-58s %12.7f %12.7f" % ("torchvision, MMDetection's anchors, its normaliser", mine["classification"],
                                     mine["bbox_regression"]))
    print("  %-58s %12.7f %12.7f  (positives %s)" % ("torchvision as shipped (its anchors and normaliser)",
                                                     theirs["classification"], theirs["bbox_regression"],
                                                     theirs["num_pos"]))
    for f in fails:
        print("FAIL: " + f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
