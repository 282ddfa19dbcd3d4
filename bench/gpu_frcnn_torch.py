#!/usr/bin/env python3
"""bench/gpu_frcnn_torch.py - torchvision's side of the Faster R-CNN benchmark tools/gpu_check.sh runs: train steps of
fasterrcnn_resnet50_fpn (v1) on one GPU at MMDetection's 1333x800 canvas (800x1344 after padding to 32, as tgc's
plan of configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.yaml), batch 2, 80 classes, fp32 (TF32 off, as tgc's
plans are fp32, unless TGC_ALLOW_TF32=1).

The model is built as torchvision builds it for pretrained weights (tests/numerics/torchvision_det.py:
FrozenBatchNorm2d, stem and layer1 frozen: MMDetection's frozen_stages 1 and norm_eval), with random weights
(nothing is downloaded), its GeneralizedRCNNTransform bypassed (no resize, so both sides see 800x1344; checked to
change nothing). A step: zero_grad, the training forward with the targets (6 boxes per image), the sum of its
four losses, backward, SGD (lr 0.02, momentum 0.9, weight decay 1e-4), as the config's optimizer; its samplers
and proposal counts as shipped (256 anchors and 512 RoIs per image, 2000 proposals kept in training).

    gpu_frcnn_torch.py [--batch 2] [--height 800] [--width 1344] [--iters 10] [--warmup 3] [--dry-run]

Prints one line: "torch Faster R-CNN R50-FPN: batch B at HxW, N steps in S s: X img/s, Y ms/step, peak memory Z
MiB" (timed between torch.cuda.synchronize() calls; peak: torch.cuda.max_memory_allocated over the warm-up and
timed steps, model and optimizer state included). --dry-run runs the same on the CPU at 128x192, one step after
one warm-up, 64 RoIs per image (no peak memory), to check the script without a GPU. Exits 77 with "skipped: ..." without torch,
torchvision or a GPU."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "numerics"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--height", type=int, default=800)
    ap.add_argument("--width", type=int, default=1344)
    ap.add_argument("--classes", type=int, default=80)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dry-run", action="store_true", help="on the CPU at 128x192, 1 step after 1 warm-up")
    a = ap.parse_args()
    try:
        import torch
        import torchvision  # noqa: F401
        import torchvision_det as tvd
    except ImportError as e:
        print("skipped: %s" % e)
        return 77
    if a.dry_run:
        dev = torch.device("cpu")
        a.height, a.width, a.iters, a.warmup = 128, 192, 1, 1
    elif not torch.cuda.is_available():
        print("skipped: no GPU (torch.cuda.is_available() is false)")
        return 77
    else:
        dev = torch.device("cuda")
        tf32 = os.environ.get("TGC_ALLOW_TF32") == "1"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = False
    torch.manual_seed(0)
    # the dry run samples 64 RoIs per image (Debian's CPU PyTorch multiplies with a generic BLAS: 512 take a minute)
    model = tvd.faster_rcnn(torch, a.classes, **({"box_batch_size_per_image": 64} if a.dry_run else {}))
    images, targets = tvd.synthetic_batch(torch, a.batch, a.height, a.width, a.classes, seed=1)
    targets = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in targets]  # torchvision: 0 background
    tvd.check_transform_identity(torch, model, images, targets)
    tvd.calibrate_frozen_bn(torch, model, images)
    model.to(dev).train()
    images = [i.to(dev) for i in images]
    targets = [{k: v.to(dev) for k, v in t.items()} for t in targets]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.02, momentum=0.9, weight_decay=1e-4)
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = sum(model(images, targets).values())
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.iters):
        loss = step()
    if cuda:
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    if not torch.isfinite(loss.detach()).item():
        print("FAIL: the loss is not finite: %s" % float(loss))
        return 1
    peak = "peak memory %.0f MiB" % (torch.cuda.max_memory_allocated() / 2 ** 20) if cuda else "CPU dry run"
    print("torch Faster R-CNN R50-FPN (fasterrcnn_resnet50_fpn, torch %s, torchvision %s%s): batch %d at %dx%d, %d steps "
          "in %.3f s: %.1f img/s, %.1f ms/step, %s" %
          (torch.__version__, torchvision.__version__, ", TF32" if cuda and tf32 else "", a.batch, a.height, a.width,
           a.iters, dt, a.batch * a.iters / dt, 1e3 * dt / a.iters, peak))
    return 0


if __name__ == "__main__":
    sys.exit(main())
