#!/usr/bin/python3
"""The detection ops of the CPU backend against torchvision.ops and PyTorch on random data.

tgc runs each op through tests/numerics/op_harness.c (one op, operands from files); the same data goes to
  roi_align (aligned and not, sampling_ratio 0 and 2) and its gradient: torchvision.ops.roi_align + autograd
  nms_fixed: torchvision.ops.nms (one class) and batched_nms (class ids), the kept indices in order
  topk: torch.topk (values and indices)
  smooth_l1 and its gradient: torch.nn.functional.smooth_l1_loss(reduction='none') * weight, summed,
  / (avg_factor + float32 eps), * loss_weight (MMDetection's SmoothL1Loss with avg_factor)
  box_iou: torchvision.ops.box_iou; box_encode, box_decode: DeltaXYWHBBoxCoder's formulas written in torch
  float32; gather: torch indexing
  giou_loss and its gradient: bbox_overlaps(mode='giou', is_aligned=True)'s formulas in torch, autograd
  Faster R-CNN: anchor_decode against AnchorGenerator's grid anchors and delta2bbox written in torch float32
  (clipped to img_shape, min_bbox_size); softmax_cross_entropy_masked and its gradient against
  F.cross_entropy(ignore_index=-1) * loss_weight; accuracy_masked against MMDetection's accuracy() on the rows
  that are not padding; class_box_targets + smooth_l1 (beta 0) against
  MMDetection's class-specific L1 (the gt class's 4 deltas of each positive) / the sampled RoIs
Prints the largest error of each. Exit 0: pass, 1: fail, 77: torch or torchvision missing (a failure
under CI=true)."""
import argparse
import os
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--harness", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        import numpy as np
        import torch
        import torchvision.ops as tvo
    except ImportError as e:
        if os.environ.get("CI") == "true":
            print("FAIL: %s: tools/setup.sh installs python3-torch and python3-torchvision; under CI=true their "
                  "absence is a failure, not a skip" % e)
            return 1
        print("skipped: torch or torchvision not available (%s)" % e)
        return 77
    os.makedirs(args.work, exist_ok=True)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(args.seed)
    failures = []

    def run(op, attrs, ins, outs, threads=2):
        """ins: [numpy arrays]; outs: [(dtype, shape)]; returns the results as numpy arrays."""
        spec = ["op " + op, "threads %d" % threads]
        for k, v in attrs.items():
            vals = v if isinstance(v, (list, tuple)) else [v]
            spec.append("attr %s %s" % (k, " ".join(str(x) for x in vals)))
        for i, a in enumerate(ins):
            f = os.path.join(args.work, "%s_in%d.bin" % (op, i))
            a.tofile(f)
            dt = {np.float32: "f32", np.int32: "i32"}[a.dtype.type]
            spec.append("in %s %d %s %s" % (dt, a.ndim, " ".join(str(d) for d in a.shape), f))
        files = []
        for i, (dt, shape) in enumerate(outs):
            f = os.path.join(args.work, "%s_out%d.bin" % (op, i))
            files.append((f, dt, shape))
            spec.append("out %s %d %s %s" % (dt, len(shape), " ".join(str(d) for d in shape), f))
        sf = os.path.join(args.work, op + ".spec")
        with open(sf, "w") as fh:
            fh.write("\n".join(spec) + "\n")
        subprocess.run([args.harness, sf], check=True)
        return [np.fromfile(f, dtype={"f32": np.float32, "i32": np.int32}[dt]).reshape(shape) for f, dt, shape in files]

    def check(name, got, ref, tol):
        err = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))) if got.size else 0.0
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        ok = err <= tol * max(scale, 1.0)
        print("%-46s max abs err %.3g (max |ref| %.3g) %s" % (name, err, scale, "ok" if ok else "FAIL"))
        if not ok:
            failures.append(name)

    # ---- roi_align: FPN-like level (stride 4) of a 100 x 152 canvas, RoIs partly outside it ----
    n, c, h, w, k = 2, 8, 25, 38, 60
    x = torch.randn(n, c, h, w, generator=g)
    x1 = torch.rand(k, generator=g) * 160 - 10
    y1 = torch.rand(k, generator=g) * 110 - 10
    bw = torch.rand(k, generator=g) * 90 + 0.5
    bh = torch.rand(k, generator=g) * 70 + 0.5
    bidx = torch.randint(0, n, (k,), generator=g).float()
    rois = torch.stack([bidx, x1, y1, x1 + bw, y1 + bh], 1).contiguous()
    dy = torch.randn(k, c, 7, 7, generator=g)
    for aligned in (True, False):
        for sr in (0, 2):
            xr = x.clone().requires_grad_(True)
            ref = tvo.roi_align(xr, rois, (7, 7), spatial_scale=0.25, sampling_ratio=sr, aligned=aligned)
            ref.backward(dy)
            attrs = {"output_size": [7, 7], "spatial_scale": 0.25, "sampling_ratio": sr, "aligned": int(aligned)}
            (y,) = run("roi_align", attrs, [x.numpy(), rois.numpy()], [("f32", (k, c, 7, 7))])
            attrs["shape"] = [n, c, h, w]
            (dx,) = run("roi_align_bwd", attrs, [dy.numpy(), rois.numpy()], [("f32", (n, c, h, w))], threads=3)
            tag = "aligned=%d sampling_ratio=%d" % (aligned, sr)
            check("roi_align %s" % tag, y, ref.detach().numpy(), 1e-5)
            check("roi_align_bwd %s" % tag, dx, xr.grad.numpy(), 1e-5)

    # ---- nms: 2 images x 400 boxes, one class and 5 class ids, IoU 0.5 and 0.7 ----
    b, m = 2, 400
    xy = torch.rand(b, m, 2, generator=g) * 150
    wh = torch.rand(b, m, 2, generator=g) * 80 + 1
    boxes = torch.cat([xy, xy + wh], 2).contiguous()
    scores = torch.rand(b, m, generator=g)
    ids = torch.randint(0, 5, (b, m), generator=g).int()
    for thr in (0.5, 0.7):
        for classes in (False, True):
            idv = ids if classes else torch.zeros_like(ids)
            keep, count = run("nms_fixed", {"k": m, "iou_threshold": thr},
                              [boxes.numpy(), scores.numpy(), idv.numpy()], [("i32", (b, m)), ("i32", (b,))])
            worst = 0
            for i in range(b):
                if classes:
                    ref = tvo.batched_nms(boxes[i], scores[i], idv[i].long(), thr).numpy()
                else:
                    ref = tvo.nms(boxes[i], scores[i], thr).numpy()
                got = keep[i, :count[i]]
                same = len(got) == len(ref) and bool(np.all(got == ref)) and bool(np.all(keep[i, count[i]:] == -1))
                worst = max(worst, 0 if same else 1)
            name = "nms_fixed iou %.1f %s" % (thr, "class ids" if classes else "one class")
            print("%-46s kept %s, %s" % (name, list(count), "same indices as torchvision" if not worst else "FAIL"))
            if worst:
                failures.append(name)

    # ---- box_iou (torchvision.ops.box_iou), box_encode/box_decode (DeltaXYWHBBoxCoder's formulas in torch
    # float32, R-CNN stds, clipped to each image's shape), gather ----
    bb = boxes[:, :50].contiguous()
    (iou,) = run("box_iou", {"eps": 1e-6}, [boxes.numpy(), bb.numpy()], [("f32", (b, m, 50))])
    ref = torch.stack([tvo.box_iou(boxes[i], bb[i]) for i in range(b)])
    check("box_iou", iou, ref.numpy(), 1e-6)
    stds = torch.tensor([0.1, 0.1, 0.2, 0.2])
    gxy = xy + torch.randn(b, m, 2, generator=g) * 5
    gt = torch.cat([gxy, gxy + wh * (torch.rand(b, m, 2, generator=g) + 0.5)], 2)
    attrs = {"target_means": [0, 0, 0, 0], "target_stds": [0.1, 0.1, 0.2, 0.2], "wh_ratio_clip": 0.016, "clip_border": 1}
    (enc,) = run("box_encode", {"target_means": [0, 0, 0, 0], "target_stds": [0.1, 0.1, 0.2, 0.2]},
                 [boxes.numpy(), gt.numpy()], [("f32", (b, m, 4))])
    p_ctr, p_wh = (boxes[..., :2] + boxes[..., 2:]) * 0.5, boxes[..., 2:] - boxes[..., :2]
    g_ctr, g_wh = (gt[..., :2] + gt[..., 2:]) * 0.5, gt[..., 2:] - gt[..., :2]
    ref = torch.cat([(g_ctr - p_ctr) / p_wh, torch.log(g_wh / p_wh)], -1) / stds
    check("box_encode", enc, ref.numpy(), 1e-5)
    deltas = torch.randn(b, m, 4, generator=g) * 2
    deltas[:, ::7, 2:] *= 15  # beyond |log(wh_ratio_clip)| once scaled by the stds: the clamp
    shape = torch.tensor([[120.0, 160.0], [150.0, 100.0]])
    (dec,) = run("box_decode", attrs, [boxes.numpy(), deltas.numpy(), shape.numpy()], [("f32", (b, m, 4))])
    dd = deltas * stds
    max_ratio = abs(float(np.log(0.016)))
    dwh = dd[..., 2:].clamp(min=-max_ratio, max=max_ratio)
    ctr = p_ctr + p_wh * dd[..., :2]
    half = p_wh * torch.exp(dwh) * 0.5
    ref = torch.cat([ctr - half, ctr + half], -1)
    for i in range(b):
        ref[i, :, 0::2] = ref[i, :, 0::2].clamp(min=0, max=float(shape[i, 1]))
        ref[i, :, 1::2] = ref[i, :, 1::2].clamp(min=0, max=float(shape[i, 0]))
    check("box_decode", dec, ref.numpy(), 1e-5)
    idx = torch.randint(-1, m, (b, 30), generator=g).int()
    (gat,) = run("gather", {"alpha": 0}, [boxes.numpy(), idx.numpy()], [("f32", (b, 30, 4))])
    ref = torch.stack([torch.where((idx[i] >= 0)[:, None], boxes[i][idx[i].clamp(min=0).long()], torch.zeros(1))
                       for i in range(b)])
    check("gather", gat, ref.numpy(), 0)

    # ---- giou_loss (MMDetection's bbox_overlaps giou, aligned, eps 1e-6, in torch float32 with autograd) ----
    gp = torch.cat([xy, xy + wh], 2)[0, :200].contiguous()
    gt2 = torch.cat([xy + torch.randn(b, m, 2, generator=g) * 20, xy + wh * 1.3], 2)[0, :200].contiguous()
    gw = torch.rand(200, generator=g)
    gavg = torch.tensor([50.0])
    pr = gp.clone().requires_grad_(True)
    area1 = (pr[:, 2] - pr[:, 0]) * (pr[:, 3] - pr[:, 1])
    area2 = (gt2[:, 2] - gt2[:, 0]) * (gt2[:, 3] - gt2[:, 1])
    whi = (torch.min(pr[:, 2:], gt2[:, 2:]) - torch.max(pr[:, :2], gt2[:, :2])).clamp(min=0)
    ov = whi[:, 0] * whi[:, 1]
    un = torch.max(area1 + area2 - ov, torch.tensor([1e-6]))
    whe = (torch.max(pr[:, 2:], gt2[:, 2:]) - torch.min(pr[:, :2], gt2[:, :2])).clamp(min=0)
    ea = torch.max(whe[:, 0] * whe[:, 1], torch.tensor([1e-6]))
    giou = ov / un - (ea - un) / ea
    eps = float(np.finfo(np.float32).eps)
    ref = 2.0 * ((1 - giou) * gw).sum() / (gavg + eps)
    ref.sum().backward()
    attrs = {"alpha": 2.0, "eps": 1e-6}
    (loss,) = run("giou_loss", attrs, [gp.numpy(), gt2.numpy(), gw.numpy(), gavg.numpy()], [("f32", ())])
    (dp,) = run("giou_loss_bwd", attrs, [np.ones((), np.float32), gp.numpy(), gt2.numpy(), gw.numpy(), gavg.numpy()],
                [("f32", (200, 4))])
    check("giou_loss", loss, ref.detach().numpy(), 1e-6)
    check("giou_loss_bwd", dp, pr.grad.numpy(), 1e-5)

    # ---- topk ----
    t = torch.randn(3, 1000, generator=g)
    vals, idx = run("topk", {"k": 50}, [t.numpy()], [("f32", (3, 50)), ("i32", (3, 50))])
    rv, ri = torch.topk(t, 50, dim=-1)
    check("topk values", vals, rv.numpy(), 0)
    check("topk indices", idx, ri.int().numpy(), 0)

    # ---- smooth_l1 (beta 1/9 as the RPN of MMDetection 2.x configs, and 1.0) ----
    p = torch.randn(512, 4, generator=g)
    tt = torch.randn(512, 4, generator=g)
    wt = (torch.rand(512, 4, generator=g) < 0.25).float()
    avg = torch.tensor([128.0])
    for beta in (1.0 / 9, 1.0):
        pr = p.clone().requires_grad_(True)
        eps = float(np.finfo(np.float32).eps)
        ref = 2.0 * (torch.nn.functional.smooth_l1_loss(pr, tt, reduction="none", beta=beta) * wt).sum() / (avg + eps)
        ref.sum().backward()
        attrs = {"alpha": 2.0, "beta": beta}
        (loss,) = run("smooth_l1", attrs, [p.numpy(), tt.numpy(), wt.numpy(), avg.numpy()], [("f32", ())])
        (dp,) = run("smooth_l1_bwd", attrs, [np.ones((), np.float32), p.numpy(), tt.numpy(), wt.numpy(), avg.numpy()],
                    [("f32", (512, 4))])
        check("smooth_l1 beta %.3g" % beta, loss, ref.detach().numpy(), 1e-6)
        check("smooth_l1_bwd beta %.3g" % beta, dp, pr.grad.numpy(), 1e-6)

    # ---- anchor_decode: the RPN's stride-16 level (13 x 21 cells, 3 base anchors) of a 208 x 336 canvas ----
    hh, ww, stride = 13, 21, 16.0
    ratios, scale = torch.tensor([0.5, 1.0, 2.0]), torch.tensor([8.0])
    h_r = torch.sqrt(ratios)
    w_r = 1 / h_r
    ws_, hs_ = (stride * w_r[:, None] * scale[None, :]).view(-1), (stride * h_r[:, None] * scale[None, :]).view(-1)
    base = torch.stack([-0.5 * ws_, -0.5 * hs_, 0.5 * ws_, 0.5 * hs_], -1)
    sx, sy = torch.arange(0, ww).float() * stride, torch.arange(0, hh).float() * stride
    yy, xx = torch.meshgrid(sy, sx, indexing="ij")
    shifts = torch.stack([xx.reshape(-1), yy.reshape(-1), xx.reshape(-1), yy.reshape(-1)], -1)
    anchors = (base[None, :, :] + shifts[:, None, :]).view(-1, 4)
    na, kk = anchors.shape[0], 200
    aidx = torch.stack([torch.randperm(na, generator=g)[:kk] for _ in range(b)]).int()
    deltas = torch.randn(b, kk, 4, generator=g)
    ascore = torch.rand(b, kk, generator=g)
    img_shape = torch.tensor([[150.0, 200.0], [208.0, 120.0]])
    attrs = {"stride": [16, 16], "shape": [hh, ww, 3], "base_anchors": base.reshape(-1).tolist() + [0] * 24,
             "min_bbox_size": 2.0, "target_means": [0, 0, 0, 0], "target_stds": [1, 1, 1, 1], "wh_ratio_clip": 0.016,
             "clip_border": 1}
    dboxes, dscores = run("anchor_decode", attrs, [aidx.numpy(), deltas.numpy(), ascore.numpy(), img_shape.numpy()],
                          [("f32", (b, kk, 4)), ("f32", (b, kk))])
    pri = anchors[aidx.long()]
    pxy, pwh = (pri[..., :2] + pri[..., 2:]) * 0.5, pri[..., 2:] - pri[..., :2]
    mr = abs(np.log(0.016))
    gxy = pxy + pwh * deltas[..., :2]
    gwh = pwh * deltas[..., 2:].clamp(min=-mr, max=mr).exp()
    ref = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], -1)
    ref[..., 0::2] = torch.minimum(ref[..., 0::2].clamp(min=0), img_shape[:, None, 1:2])
    ref[..., 1::2] = torch.minimum(ref[..., 1::2].clamp(min=0), img_shape[:, None, 0:1])
    rw, rh = ref[..., 2] - ref[..., 0], ref[..., 3] - ref[..., 1]
    rscore = torch.where((rw > 2.0) & (rh > 2.0), ascore, torch.tensor(float("-inf")))
    check("anchor_decode boxes", dboxes, ref.numpy(), 1e-5)
    same = bool(np.array_equal(dscores, rscore.numpy()))
    print("%-46s %d of %d dropped, %s" % ("anchor_decode min_bbox_size", int(np.isinf(dscores).sum()), b * kk,
                                          "as torch" if same else "FAIL"))
    if not same:
        failures.append("anchor_decode min_bbox_size")

    # ---- the R-CNN losses: 1024 sampled RoIs (padding rows -1), 81 classes ----
    nr, nc = 1024, 80
    logits = torch.randn(nr, nc + 1, generator=g) * 3
    lab = torch.randint(0, nc + 1, (nr,), generator=g)
    lab[torch.rand(nr, generator=g) < 0.6] = nc  # negatives
    lab[-37:] = -1  # padding rows
    lr_ = logits.clone().requires_grad_(True)
    ref = 1.5 * torch.nn.functional.cross_entropy(lr_, lab, ignore_index=-1)
    ref.backward()
    (loss,) = run("softmax_cross_entropy_masked", {"alpha": 1.5}, [logits.numpy(), lab.int().numpy()], [("f32", ())])
    (dl,) = run("softmax_cross_entropy_masked_bwd", {"alpha": 1.5},
                [np.ones((), np.float32), logits.numpy(), lab.int().numpy()], [("f32", (nr, nc + 1))])
    check("softmax_cross_entropy_masked", loss, ref.detach().numpy(), 1e-6)
    check("softmax_cross_entropy_masked_bwd", dl, lr_.grad.numpy(), 1e-6)
    (acc,) = run("accuracy_masked", {}, [logits.numpy(), lab.int().numpy()], [("f32", ())])
    keep = lab >= 0  # MMDetection's accuracy(): top-1 correct * 100 / rows
    ref = (logits[keep].topk(1, dim=1)[1][:, 0] == lab[keep]).float().sum() * 100.0 / keep.sum()
    check("accuracy_masked (MMDetection's accuracy)", acc, ref.numpy(), 1e-6)
    breg = torch.randn(nr, 4 * nc, generator=g)
    btg = torch.randn(nr, 4, generator=g)
    tgt, wgt, avgf = run("class_box_targets", {"num_classes": nc}, [lab.int().numpy(), btg.numpy()],
                         [("f32", (nr, 4 * nc)), ("f32", (nr, 4 * nc)), ("f32", (1,))])
    br = breg.clone().requires_grad_(True)
    pos = (lab >= 0) & (lab < nc)
    sel = br.view(nr, nc, 4)[pos, lab[pos]]
    eps = float(np.finfo(np.float32).eps)
    ref = (sel - btg[pos]).abs().sum() / (float((lab >= 0).sum()) + eps)
    ref.backward()
    (loss,) = run("smooth_l1", {"alpha": 1.0, "beta": 0.0}, [breg.numpy(), tgt, wgt, avgf], [("f32", ())])
    (dreg,) = run("smooth_l1_bwd", {"alpha": 1.0, "beta": 0.0}, [np.ones((), np.float32), breg.numpy(), tgt, wgt, avgf],
                  [("f32", (nr, 4 * nc))])
    check("class_box_targets + smooth_l1 beta 0 (L1)", loss, ref.detach().numpy(), 1e-6)
    check("class_box_targets + smooth_l1_bwd beta 0", dreg, br.grad.numpy(), 1e-6)

    if failures:
        print("FAIL: " + ", ".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
