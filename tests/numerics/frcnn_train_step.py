#!/usr/bin/python3
"""Faster R-CNN's train program alone on a hand-built batch (no data loader): a CPU-sized variant of the R50-FPN
config (ResNet-18 at half width, nothing frozen, 128 x 128 canvas, 3 classes, batch 2) runs 6 SGD steps
through tests/numerics/step_harness.c from the plan's own initialisation.

The batch: two images with 3 and 2 boxes that are bright squares on a dark canvas; the RPN targets as the
host builds them (MMDetection's AnchorGenerator, MaxIoUAssigner 0.7 / 0.3 / min_pos_iou 0.3 with the
low-quality pass, up to 128 positives of 256 sampled anchors, DeltaXYWH with stds 1), written here in numpy;
gt_bboxes/gt_labels padded to tgc_max_gts rows with -1 labels; img_shape the images' own sizes.

Asserted: every step's loss equals loss_rpn_cls + loss_rpn_bbox + loss_cls + loss_bbox (the named outputs) to
1e-5 (acc, logged too, is a percentage and not part of it); at the first step the heads are near their initialisation, so loss_cls is close to ln(C + 1) (a uniform
softmax over the sampled RoIs) and loss_rpn_cls close to ln 2; every term is finite; the loss falls over the
steps (the same batch each time); the eval program's det_out is [B, P, 4 + 1 + (C + 1) + 4C] with valid
rows first (flag 1, boxes inside the image) and padding rows after (flag 0, box 0).
Exit 0 pass, 1 fail, 77 numpy missing (a failure under CI=true)."""
import argparse
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tgc", required=True)
    ap.add_argument("--harness", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    try:
        import numpy as np
        import tgc_ckpt
    except ImportError as e:
        if os.environ.get("CI") == "true":
            print("FAIL: %s (python3-numpy is in tools/setup.sh)" % e)
            return 1
        print("skipped: numpy not available (%s)" % e)
        return 77
    os.makedirs(args.work, exist_ok=True)
    B, H, W, C, G = 2, 128, 128, 3, 16
    plan = os.path.join(args.work, "frcnn.plan")
    opts = ["model.data_preprocessor.tgc_canvas=[%d,%d]" % (H, W), "model.data_preprocessor.tgc_max_gts=%d" % G,
            "model.backbone.depth=18", "model.backbone.base_channels=32", "model.backbone.frozen_stages=-1",
            "model.backbone.norm_eval=False", "model.backbone.init_cfg=None", "model.neck.in_channels=[32,64,128,256]",
            "model.neck.out_channels=64", "model.rpn_head.in_channels=64", "model.rpn_head.feat_channels=64",
            "model.roi_head.bbox_roi_extractor.out_channels=64", "model.roi_head.bbox_head.in_channels=64",
            "model.roi_head.bbox_head.num_classes=%d" % C, "model.roi_head.bbox_head.fc_out_channels=128",
            "train_dataloader.batch_size=%d" % B, "val_dataloader.batch_size=%d" % B,
            "model.train_cfg.rcnn.sampler.num=128", "model.train_cfg.rpn_proposal.nms_pre=500",
            "model.train_cfg.rpn_proposal.max_per_img=200", "model.test_cfg.rpn.nms_pre=500",
            "model.test_cfg.rpn.max_per_img=200"]
    subprocess.run([args.tgc, "compile", args.config, "-o", plan, "--cfg-options"] + opts, check=True,
                   stderr=subprocess.DEVNULL)

    # ---- the batch ----
    rng = np.random.default_rng(7)
    gts = [np.array([[10, 12, 50, 60], [70, 20, 120, 70], [30, 80, 90, 120]], np.float32),
           np.array([[5, 5, 60, 40], [64, 50, 110, 100]], np.float32)]
    labels = [np.array([0, 1, 2], np.int32), np.array([2, 0], np.int32)]
    img_shape = np.array([[128, 128], [112, 120]], np.float32)
    imgs = rng.normal(0, 0.1, (B, 3, H, W)).astype(np.float32)
    for b in range(B):
        for k, (x1, y1, x2, y2) in enumerate(gts[b].astype(int)):
            imgs[b, labels[b][k], y1:y2, x1:x2] += 1.5
    imgs[1, :, 112:, :] = 0
    imgs[1, :, :, 120:] = 0

    # anchors: strides 4..64, scale 8, ratios 0.5 1 2, level -> cell row-major -> base anchor
    anchors = []
    for s in (4, 8, 16, 32, 64):
        hr = np.sqrt(np.array([0.5, 1.0, 2.0], np.float32))
        wr = np.float32(1) / hr
        ws, hs = np.float32(s) * wr * np.float32(8), np.float32(s) * hr * np.float32(8)
        base = np.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], 1).astype(np.float32)
        fh, fw = -(-H // s), -(-W // s)
        sx, sy = np.arange(fw, dtype=np.float32) * s, np.arange(fh, dtype=np.float32) * s
        yy, xx = np.meshgrid(sy, sx, indexing="ij")
        shifts = np.stack([xx.ravel(), yy.ravel(), xx.ravel(), yy.ravel()], 1)
        anchors.append((shifts[:, None, :] + base[None, :, :]).reshape(-1, 4))
    anchors = np.concatenate(anchors).astype(np.float32)
    A = anchors.shape[0]

    def iou(a, g):
        lt = np.maximum(a[:, None, :2], g[None, :, :2])
        rb = np.minimum(a[:, None, 2:], g[None, :, 2:])
        wh = np.clip(rb - lt, 0, None)
        ov = wh[..., 0] * wh[..., 1]
        aa = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
        ag = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
        return ov / np.maximum(aa[:, None] + ag[None, :] - ov, 1e-6)

    cls_t = np.full((B, A), -1, np.int32)
    box_t = np.zeros((B, A, 4), np.float32)
    sampled = 0
    for b in range(B):
        ov = iou(anchors, gts[b])
        mx, arg = ov.max(1), ov.argmax(1)
        assigned = np.full(A, -1)
        assigned[(mx >= 0) & (mx < 0.3)] = 0
        assigned[mx >= 0.7] = arg[mx >= 0.7] + 1
        for g in range(len(gts[b])):
            gm = ov[:, g].max()
            if gm >= 0.3:
                assigned[ov[:, g] == gm] = g + 1
        pos, neg = np.nonzero(assigned > 0)[0], np.nonzero(assigned == 0)[0]
        pos = rng.permutation(pos)[:128]
        neg = rng.permutation(neg)[:256 - len(pos)]
        cls_t[b, neg] = 1
        cls_t[b, pos] = 0
        g = gts[b][assigned[pos] - 1]
        p = anchors[pos]
        pc, pwh = (p[:, :2] + p[:, 2:]) * 0.5, p[:, 2:] - p[:, :2]
        gc, gwh = (g[:, :2] + g[:, 2:]) * 0.5, g[:, 2:] - g[:, :2]
        box_t[b, pos] = np.concatenate([(gc - pc) / pwh, np.log(gwh / pwh)], 1)
        sampled += len(pos) + len(neg)
    gt_b = np.zeros((B, G, 4), np.float32)
    gt_l = np.full((B, G), -1, np.int32)
    for b in range(B):
        gt_b[b, :len(gts[b])], gt_l[b, :len(gts[b])] = gts[b], labels[b]
    batch = {"inputs": imgs, "data_samples.img_shape": img_shape, "data_samples.rpn_cls_target": cls_t,
             "data_samples.rpn_bbox_target": box_t, "data_samples.rpn_avg_factor": np.array([sampled], np.float32),
             "data_samples.gt_bboxes": gt_b, "data_samples.gt_labels": gt_l,
             "data_samples.rng": np.array([[7, 0, 0, 0], [7, 0, 0, 1]], np.int32)}
    init = os.path.join(args.work, "init.ckpt")
    out = os.path.join(args.work, "out.ckpt")
    with open(init, "wb") as f:
        f.write(tgc_ckpt.dumps(batch))
    steps = 6
    subprocess.run([args.harness, plan, init, out, "--steps", str(steps), "--lr", "0.01", "--init-seed", "0"], check=True)
    t, _, _ = tgc_ckpt.load(out)
    fails = []
    terms = ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox")
    losses = t["loss"]
    for s in range(1, steps + 1):
        acc = float(t["step%d/acc" % s])
        if not 0 <= acc <= 100:
            fails.append("step %d: acc %g is not a percentage" % (s, acc))
        v = [float(t["step%d/%s" % (s, n)]) for n in terms]
        total = float(t["step%d/loss" % s])
        print("step %d: loss %.5f = %s (acc %.2f)" % (s, total, " + ".join("%s %.5f" % (n, x) for n, x in zip(terms, v)),
                                                        acc))
        if not all(math.isfinite(x) for x in v + [total]):
            fails.append("step %d: a term is not finite" % s)
        if abs(sum(v) - total) > 1e-5 * max(1.0, abs(total)):
            fails.append("step %d: the loss %.7g is not the sum of its terms %.7g" % (s, total, sum(v)))
    first = {n: float(t["step1/%s" % n]) for n in terms}
    if abs(first["loss_cls"] - math.log(C + 1)) > 0.05:
        fails.append("step 1: loss_cls %.4f, expected about ln(%d) = %.4f" % (first["loss_cls"], C + 1, math.log(C + 1)))
    if abs(first["loss_rpn_cls"] - math.log(2)) > 0.05:
        fails.append("step 1: loss_rpn_cls %.4f, expected about ln 2" % first["loss_rpn_cls"])
    if not losses[-1] < losses[0]:
        fails.append("the loss did not fall: %s" % list(losses))
    det = t["eval.logits"]
    P = 200
    if det.shape != (B, P, 4 + 1 + (C + 1) + 4 * C):
        fails.append("det_out shape %s" % (det.shape,))
    else:
        for b in range(B):
            valid = det[b, :, 4]
            n = int(valid.sum())
            ok = n > 0 and np.all(valid[:n] == 1) and np.all(valid[n:] == 0) and np.all(det[b, n:, :4] == 0)
            inside = np.all(det[b, :n, 0] >= 0) and np.all(det[b, :n, 2] <= img_shape[b, 1]) and \
                np.all(det[b, :n, 3] <= img_shape[b, 0]) and np.all(det[b, :n, 2] > det[b, :n, 0])
            print("eval image %d: %d valid proposals of %d" % (b, n, P))
            if not (ok and inside):
                fails.append("det_out image %d: valid rows not first, or boxes outside the image" % b)
    if fails:
        print("FAIL: " + "; ".join(fails))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
