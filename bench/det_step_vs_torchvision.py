#!/usr/bin/env python3
"""bench/det_step_vs_torchvision.py - a detection train step in tgc against torchvision's detector on the CPU.

For each model (--model retinanet, faster_rcnn, or all), on the config's canvas and batch (tgc inspect: 800x1344,
2 images for the full configs) and the same thread count, in one run on one machine:

  step time  the median over --steps timed steps (after --warmup untimed ones) of a whole training step:
             tgc's `tgc bench PLAN --train-only --json` (train_ms_median: the plan's train program on seeded
             synthetic inputs and targets; the targets are built by the data loader's workers, outside the step,
             so the host's time to build them is given apart, from tgc_step_harness); torchvision's model in
             train mode: zero_grad, forward with the targets (its anchors and matching included), the sum of its
             losses, backward, SGD step (the config's lr, momentum 0.9, weight decay 1e-4) on the same batch.
  peak RSS   each side in its own process, started from a small launcher (this script with --rss-of, so that
             ru_maxrss is the child's own, not inherited from a parent that imported torch): wait4's ru_maxrss,
             and the same for the idle process (`tgc --version`; Python with torch and torchvision imported).
  loss terms (RetinaNet; not with --no-losses) one step from the same weights: torchvision's RetinaNet
             (random weights, seed 0, frozen batch norms calibrated on the batch) saved under MMDetection's names
             and loaded by tgc through load_from, in the config with torchvision's FPN extras (add_extra_convs
             on_output, relu_before_extra_convs); the same normalised batch and boxes, torchvision's transform
             bypassed (checked to change nothing). tgc's step runs in tgc_step_harness. torchvision's losses are
             shown as shipped and with each architectural difference removed in turn (tests/numerics/
             torchvision_det.py): its anchors (strides image_size // feature_size, sizes int(), rounded base
             anchors), its per-image normaliser; the assignment is compared anchor by anchor.

Faster R-CNN: step time and memory (tgc bench fills its RPN targets, ground truth and sampler keys); tgc's side
only when configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.yaml is in the tree (else one line says it is not
built). Its loss terms (not with --no-losses) from the same weights as RetinaNet's, with the randomness taken
out where the two agree (tests/numerics/torchvision_det.py, frcnn_sizes): both samplers take every candidate,
the same proposal counts (2000 per level, 1000 after the NMS); tgc's config with torchvision's SmoothL1Loss
(beta 1/9) for both box terms and RoIAlign sampling_ratio 2, aligned false; torchvision with MMDetection's RPN
anchors. torchvision's R-CNN terms are given end to end and with its RoI heads on tgc's proposals (a proposal
can swap at a top-k or NMS cut-off on a last-bit score difference), then as shipped with its own anchors
(samplers still taking every candidate) for information. The figures and how to read them: bench/README.md.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "numerics"))

MODELS = {
    "retinanet": {"config": "configs/retinanet/retinanet_r50_fpn_1x_coco.yaml", "tv": "retinanet_resnet50_fpn"},
    "faster_rcnn": {"config": "configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.yaml", "tv": "fasterrcnn_resnet50_fpn"},
}
# torchvision's FPN extras in MMDetection's terms, and no pretrained backbone (the weights come through load_from)
TV_ARCH_OPTIONS = ["model.neck.add_extra_convs=on_output", "model.neck.relu_before_extra_convs=True",
                   "model.backbone.init_cfg=None"]
# torchvision's Faster R-CNN losses and RoI layer in MMDetection's terms (SmoothL1Loss beta 1/9 on both box
# terms; MultiScaleRoIAlign's sampling_ratio 2, aligned false), no pretrained backbone
FRCNN_TV_OPTIONS = ["model.backbone.init_cfg=None", "model.rpn_head.loss_bbox.type=SmoothL1Loss",
                    "model.rpn_head.loss_bbox.beta=%r" % (1.0 / 9), "model.roi_head.bbox_head.loss_bbox.type=SmoothL1Loss",
                    "model.roi_head.bbox_head.loss_bbox.beta=%r" % (1.0 / 9),
                    "model.roi_head.bbox_roi_extractor.roi_layer.sampling_ratio=2",
                    "model.roi_head.bbox_roi_extractor.roi_layer.aligned=False"]
FRCNN_PROPOSALS, FRCNN_NMS_PRE, FRCNN_MAX_GTS = 1000, 2000, 8  # MMDetection's train_cfg.rpn_proposal
MIB = 1048576.0


def find_default(name):
    """The newest build*/<name> or build*/tests/<name> under the repository."""
    found = glob.glob(os.path.join(ROOT, "build*", name)) + glob.glob(os.path.join(ROOT, "build*", "tests", name))
    c = [p for p in found if os.access(p, os.X_OK)]
    return max(c, key=os.path.getmtime) if c else None


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---- the measured processes -----------------------------------------------------------------------------

def rss_launch(out_path, cmd):
    """--rss-of OUT CMD...: runs CMD with its stdout in OUT and prints its peak RSS in bytes (wait4's ru_maxrss of
    that child alone; this launcher is a fresh, small interpreter, since a forked child's ru_maxrss starts
    from its parent's size)."""
    with open(out_path, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    if rc:
        sys.stderr.buffer.write(err[-2000:])
        return 1
    print(ru.ru_maxrss * 1024)
    return 0


def measured(cmd, env, tmp):
    """Runs cmd through --rss-of: (its stdout, its peak RSS in bytes)."""
    out = os.path.join(tmp, "stdout.txt")
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--rss-of", out] + cmd, capture_output=True,
                       text=True, env=env)
    if r.returncode:
        raise RuntimeError("%s failed (status %d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    with open(out) as f:
        return f.read(), int(r.stdout)


def torch_child(a):
    """--torch-child: torchvision's train step; prints one JSON line."""
    import torch
    import torchvision
    import torchvision_det as tvd
    if a.model == "idle":
        print(json.dumps({}))
        return 0
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.model == "retinanet":
        model = tvd.retinanet(torch, a.depth, a.classes, anchors="torchvision")
    else:
        model = tvd.faster_rcnn(torch, a.classes, depth=a.depth, representation_size=a.fc_width)
    images, targets = tvd.synthetic_batch(torch, a.batch, a.height, a.width, a.classes, seed=1)
    tvd.check_transform_identity(torch, model, images, targets)
    tvd.calibrate_frozen_bn(torch, model, images)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=a.lr, momentum=0.9, weight_decay=1e-4)
    model.train()
    times, losses = [], None
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        ld = model(images, targets)
        loss = sum(ld.values())
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if s >= a.warmup:
            times.append(dt)
        if losses is None:
            losses = {k: float(v) for k, v in ld.items()}
    print(json.dumps({"ms_median": 1e3 * statistics.median(times), "ms": [1e3 * t for t in times],
                      "first_losses": losses, "trainable_params": sum(p.numel() for p in params),
                      "params": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "torchvision": torchvision.__version__}))
    return 0


def torch_side(args, name, h, w, batch, classes, lr, env, tmp):
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-child", "--model", name, "--threads", str(args.threads),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--height", str(h), "--width", str(w),
           "--batch", str(batch), "--classes", str(classes), "--lr", str(lr), "--depth", str(args.depth),
           "--fc-width", str(args.fc_width)]
    la0 = loadavg()
    out, rss = measured(cmd, env, tmp)
    r = json.loads(out.strip().splitlines()[-1])
    r.update(rss=rss, load=(la0, loadavg()))
    return r


def tgc_side(args, plan, env, tmp):
    la0 = loadavg()
    out, rss = measured([args.tgc, "bench", plan, "--json", "--train-only", "--iters", str(args.steps), "--warmup",
                         str(args.warmup)], env, tmp)
    d = json.loads(out.strip().splitlines()[-1])
    return {"ms_median": d["train_ms_median"], "threads": d["threads"], "rss": rss, "load": (la0, loadavg())}


def inspect(tgc, plan):
    info = json.loads(subprocess.run([tgc, "inspect", plan, "--json"], check=True, capture_output=True,
                                     text=True).stdout)
    ins = {i["name"]: i["shape"] for i in info["programs"]["train"]["inputs"]}
    return info, ins["train/inputs"]


def compile_plan(tgc, config, plan, options=()):
    r = subprocess.run([tgc, "compile", config, "-o", plan] + (["--cfg-options"] + list(options) if options else []),
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("tgc compile %s: %s" % (config, r.stderr.strip()))


# ---- loss terms from the same weights (RetinaNet) ---------------------------------------------------------

def retina_losses(args, config, n, h, w, classes, env, tmp):
    import numpy as np
    import torch
    import torchvision_det as tvd
    import tgc_ckpt
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tv = tvd.retinanet(torch, args.depth, classes, anchors="mmdet")
    images, targets = tvd.synthetic_batch(torch, n, h, w, classes, seed=1)
    tvd.check_transform_identity(torch, tv, images, targets)
    tvd.calibrate_frozen_bn(torch, tv, images)
    weights = os.path.join(tmp, "torchvision_retinanet.pth")
    torch.save(tvd.to_mmdet_names(tv.state_dict()), weights)
    plan = os.path.join(tmp, "tv_arch.plan")
    compile_plan(args.tgc, config, plan, TV_ARCH_OPTIONS + ["load_from=" + weights])
    g = max(len(t["boxes"]) for t in targets)
    boxes = np.zeros((n, g, 4), np.float32)
    labels = np.full((n, g), -1, np.int32)
    for i, t in enumerate(targets):
        boxes[i, :len(t["boxes"])] = t["boxes"].numpy()
        labels[i, :len(t["labels"])] = t["labels"].numpy()
    init, out = os.path.join(tmp, "init.ckpt"), os.path.join(tmp, "out.ckpt")
    tgc_ckpt.save(init, {"inputs": torch.stack(images).numpy(), "gt_bboxes": boxes, "gt_labels": labels})
    r = subprocess.run([args.harness, plan, init, out, "--threads", str(args.threads), "--eval-first", "--no-state"],
                       capture_output=True, text=True, env=env)
    if r.returncode:
        raise RuntimeError("tgc_step_harness: %s" % r.stderr.strip())
    t_out, meta, _ = tgc_ckpt.load(out)

    res = {"tgc": (float(t_out["step1/loss_cls"]), float(t_out["step1/loss_bbox"])), "target_ms": meta["target_ms"],
           "tgc_num_pos": [int(v) for v in t_out["num_pos"]]}
    with torch.no_grad():
        tv.eval()
        ho = tv.head(list(tv.backbone(images[0][None]).values()))
    det = t_out["eval.logits"][0]
    res["head_err"] = [float(np.abs(det[:, :classes] - ho["cls_logits"][0].numpy()).max() /
                             np.abs(ho["cls_logits"][0].numpy()).max()),
                       float(np.abs(det[:, classes:] - ho["bbox_regression"][0].numpy()).max() /
                             np.abs(ho["bbox_regression"][0].numpy()).max())]
    del ho, det
    rows = []
    mine = tvd.retina_losses(torch, tv, images, targets)
    res["anchor_diff_px"] = float(np.abs(t_out["anchors"] - mine["anchors"].numpy()).max())
    res["assign_diff"] = int((t_out["cls_target"] != mine["targets"].numpy()).sum())
    rows.append(("MMDetection's anchors and normaliser (= tgc's model)", mine["mmdet_cls"], mine["mmdet_bbox"],
                 mine["num_pos"]))
    rows.append(("MMDetection's anchors, torchvision's per-image normaliser", mine["classification"],
                 mine["bbox_regression"], mine["num_pos"]))
    state = tv.state_dict()
    del tv
    for kind in ("tv_nominal", "torchvision"):
        m = tvd.retinanet(torch, args.depth, classes, anchors=kind)
        m.load_state_dict(state)
        o = tvd.retina_losses(torch, m, images, targets)
        if kind == "tv_nominal":
            rows.append(("its anchor sizes and rounding on nominal strides, MMDetection's normaliser",
                         o["mmdet_cls"], o["mmdet_bbox"], o["num_pos"]))
            rows.append(("its anchor sizes and rounding on nominal strides, its normaliser", o["classification"],
                         o["bbox_regression"], o["num_pos"]))
        else:
            rows.append(("as shipped (its anchors, strides image_size // feature_size, its normaliser)",
                         o["classification"], o["bbox_regression"], o["num_pos"]))
        del m
    res["rows"] = rows
    return res


# ---- loss terms from the same weights (Faster R-CNN) ------------------------------------------------------

def frcnn_losses(args, config, n, h, w, classes, env, tmp):
    import numpy as np
    import torch
    import torchvision_det as tvd
    import tgc_ckpt
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sizes = tvd.frcnn_sizes(FRCNN_PROPOSALS, FRCNN_MAX_GTS, FRCNN_NMS_PRE)
    tv = tvd.faster_rcnn(torch, classes, depth=args.depth, anchors="mmdet", representation_size=args.fc_width, **sizes)
    images, targets = tvd.synthetic_batch(torch, n, h, w, classes, seed=1)
    tv_targets = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in targets]  # torchvision: 0 background
    tvd.check_transform_identity(torch, tv, images, tv_targets)
    tvd.calibrate_frozen_bn(torch, tv, images)
    tvd.calibrate_background(torch, tv, images)
    weights = os.path.join(tmp, "torchvision_faster_rcnn.pth")
    torch.save(tvd.frcnn_to_mmdet_names(tv.state_dict()), weights)
    plan = os.path.join(tmp, "frcnn_tv_arch.plan")
    compile_plan(args.tgc, config, plan, FRCNN_TV_OPTIONS + tvd.frcnn_mmdet_options(FRCNN_PROPOSALS, FRCNN_MAX_GTS,
                                                                                   FRCNN_NMS_PRE) +
                 ["val_dataloader.batch_size=%d" % n, "load_from=" + weights])
    boxes = np.stack([t["boxes"].numpy() for t in targets]).astype(np.float32)
    labels = np.stack([t["labels"].numpy() for t in targets]).astype(np.int32)
    init, out = os.path.join(tmp, "init.ckpt"), os.path.join(tmp, "out.ckpt")
    tgc_ckpt.save(init, {"inputs": torch.stack(images).numpy(), "gt_bboxes": boxes, "gt_labels": labels})
    r = subprocess.run([args.harness, plan, init, out, "--threads", str(args.threads), "--eval-first", "--no-state"],
                       capture_output=True, text=True, env=env)
    if r.returncode:
        raise RuntimeError("tgc_step_harness: %s" % r.stderr.strip())
    t_out, meta, _ = tgc_ckpt.load(out)
    res = tvd.frcnn_against_tgc(torch, np, tv, images, tv_targets, t_out, classes)
    res["target_ms"] = meta["target_ms"]
    state = tv.state_dict()
    del tv
    stock = tvd.faster_rcnn(torch, classes, depth=args.depth, anchors="torchvision", representation_size=args.fc_width,
                            **sizes)
    stock.load_state_dict(state)
    res["stock"] = tvd.frcnn_step(torch, stock, images, tv_targets)
    for k in ("own", "fed", "stock"):  # keep the figures only
        res[k] = {m: v for m, v in res[k].items() if isinstance(v, (int, float))}
    return res


# ---- the driver -------------------------------------------------------------------------------------------

def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--rss-of":  # before argparse: the command's own options follow
        return rss_launch(sys.argv[2], sys.argv[3:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="all", choices=["all", "retinanet", "faster_rcnn", "idle"],
                    help="all, retinanet or faster_rcnn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per side (median)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--tgc", default=find_default("tgc"))
    ap.add_argument("--harness", default=find_default("tgc_step_harness"),
                    help="tests' tgc_step_harness (for the loss terms; default: the newest build*/tests/)")
    ap.add_argument("--no-losses", dest="losses", action="store_false", help="step time and memory only")
    ap.add_argument("--json", action="store_true", help="also print every figure as one JSON line")
    ap.add_argument("--config", help="another config of the --model (RetinaNet when all), e.g. "
                    "tests/numerics/retinanet_r18_tv.yaml or faster_rcnn_r18_tv.yaml for a quick run (with --depth 18; "
                    "--fc-width 128 for the latter)")
    ap.add_argument("--depth", type=int, default=50, help="torchvision's ResNet depth (default 50)")
    ap.add_argument("--fc-width", type=int, default=1024,
                    help="torchvision's Faster R-CNN box head width (the config's fc_out_channels; default 1024)")
    # the torchvision child's options (--torch-child)
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    for k, t in (("height", int), ("width", int), ("batch", int), ("classes", int), ("lr", float)):
        ap.add_argument("--" + k, type=t, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_child:
        return torch_child(args)
    if not args.tgc:
        sys.exit("det_step_vs_torchvision: no tgc executable found; pass --tgc")
    if args.losses and not args.harness:
        sys.exit("det_step_vs_torchvision: no tgc_step_harness found (cmake --build build --target "
                 "tgc_step_harness); pass --harness or --no-losses")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    env = dict(os.environ)
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as e:
        print("skipped: %s (Debian's python3-torchvision)" % e)
        return 77

    names = ["retinanet", "faster_rcnn"] if args.model == "all" else [args.model]
    results = {"threads": args.threads, "steps": args.steps, "warmup": args.warmup, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        _, tgc_idle = measured([args.tgc, "--version"], env, tmp)
        _, py_idle = measured([sys.executable, os.path.abspath(__file__), "--torch-child", "--model", "idle"], env, tmp)
        results.update(tgc_idle_rss=tgc_idle, torch_idle_rss=py_idle)
        for name in names:
            m = dict(MODELS[name])
            if args.config and name == ("retinanet" if args.model == "all" else args.model):
                m["config"] = os.path.relpath(os.path.abspath(args.config), ROOT)
            config = os.path.join(ROOT, m["config"])
            r = {"config": m["config"], "torchvision_model": m["tv"]}
            if args.depth != 50:
                r["torchvision_model"] = "%s R%d-FPN (%s's architecture)" % (
                    "RetinaNet" if name == "retinanet" else "Faster R-CNN", args.depth, m["tv"])
            lr = 0.01 if name == "retinanet" else 0.02  # the configs' lr (MMDetection's 1x schedules)
            if os.path.exists(config):
                plan = os.path.join(tmp, name + ".plan")
                compile_plan(args.tgc, config, plan)
                info, shape = inspect(args.tgc, plan)
                n, _, h, w = shape
                r["params"], r["trainable_params"] = info["params"], info["trainable_params"]
                out0 = info["programs"]["eval"]["outputs"][0]["shape"]
                # det_out: RetinaNet's [B, A, C + 4], Faster R-CNN's [B, P, 4 + 1 + (C + 1) + 4C]
                classes = out0[2] - 4 if name == "retinanet" else (out0[2] - 6) // 5
                r["tgc"] = tgc_side(args, plan, env, tmp)
            else:
                n, h, w, classes = 2, 800, 1344, 80  # MMDetection's 1333x800 keep_ratio, padded to 32, 2 per GPU
                r["tgc"] = None
            r.update(batch=n, canvas=(h, w))
            r["torchvision"] = torch_side(args, name, h, w, n, classes, lr, env, tmp)
            if args.losses and r["tgc"] is not None:
                la0 = loadavg()
                fn = retina_losses if name == "retinanet" else frcnn_losses
                r["losses"] = fn(args, config, n, h, w, classes, env, tmp)
                r["losses"]["load"] = (la0, loadavg())
            results["models"][name] = r
    report(results)
    if args.json:
        print(json.dumps(results))
    return 0


def report(res):
    print("Detection train step, tgc against torchvision, CPU, %d threads, %d timed steps after %d warm-up (median);"
          " peak RSS of each process (wait4 ru_maxrss), idle process: tgc %.0f MiB, Python + torch + torchvision "
          "%.0f MiB" % (res["threads"], res["steps"], res["warmup"], res["tgc_idle_rss"] / MIB,
                        res["torch_idle_rss"] / MIB))
    for name, r in res["models"].items():
        h, w = r["canvas"]
        print("\n%s: batch %d at %dx%d" % (name, r["batch"], h, w))
        t, v = r["tgc"], r["torchvision"]
        if t:
            print("  %-44s %10.0f ms/step  peak RSS %7.0f MiB  (load average %s -> %s)" %
                  ("tgc " + r["config"], t["ms_median"], t["rss"] / MIB, t["load"][0], t["load"][1]))
        else:
            print("  tgc: not built (%s is not in this tree)" % r["config"])
        print("  %-44s %10.0f ms/step  peak RSS %7.0f MiB  (load average %s -> %s)" %
              ("torchvision %s %s" % (v["torchvision"], r["torchvision_model"]), v["ms_median"], v["rss"] / MIB,
               v["load"][0], v["load"][1]))
        print("  torchvision's timed steps: %s ms; its first step's losses %s" %
              (", ".join("%.0f" % x for x in v["ms"]), ", ".join("%s %.4f" % kv for kv in v["first_losses"].items())))
        if t:
            print("  ratio torchvision/tgc step time: %.2f; params tgc %d (%d trainable), torchvision %d (%d trainable)"
                  % (v["ms_median"] / t["ms_median"], r["params"], r["trainable_params"], v["params"],
                     v["trainable_params"]))
        lo = r.get("losses")
        if not lo:
            continue
        if name == "faster_rcnn":
            report_frcnn_losses(lo)
            continue
        print("  loss terms of one step from the same weights (torchvision's RetinaNet converted to MMDetection's"
              " names, tgc config with add_extra_convs on_output + relu_before_extra_convs; load average %s -> %s):"
              % lo["load"])
        print("    %-86s %12s %12s  positives" % ("", "loss_cls", "loss_bbox"))
        print("    %-86s %12.7f %12.7f  %s" % ("tgc", lo["tgc"][0], lo["tgc"][1], lo["tgc_num_pos"]))
        for label, c, b, npos in lo["rows"]:
            print("    %-86s %12.7f %12.7f  %s  (%+.2e, %+.2e)" % ("torchvision, " + label, c, b, npos,
                                                              (c - lo["tgc"][0]) / lo["tgc"][0],
                                                              (b - lo["tgc"][1]) / lo["tgc"][1]))
        print("    anchors: tgc's within %.2g px of MMDetection's formula; assignment differs from torchvision's "
              "matcher (same anchors) at %d anchors; head outputs of image 0 within %.1e (logits) and %.1e "
              "(deltas) of their largest magnitude" % (lo["anchor_diff_px"], lo["assign_diff"], lo["head_err"][0],
                                                       lo["head_err"][1]))
        print("    tgc's host targets for the batch (built by the loader's workers, not in its step time): %.0f ms"
              % lo["target_ms"])


def report_frcnn_losses(lo):
    terms = ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "acc")
    print("  loss terms of one step from the same weights (torchvision's Faster R-CNN converted to MMDetection's names;"
          " tgc config with SmoothL1Loss beta 1/9 and RoIAlign sampling_ratio 2, aligned false; every candidate "
          "sampled, %d proposals per image; load average %s -> %s):" % ((FRCNN_PROPOSALS,) + tuple(lo["load"])))
    print("    %-62s %13s %13s %13s %13s %9s" % (("",) + terms))
    t = lo["tgc"]
    print("    %-62s %13.7f %13.7f %13.7f %13.7f %9.4f" % (("tgc",) + tuple(t[k] for k in terms)))
    for label, d in (("torchvision, RoI heads on tgc's proposals", lo["fed"]),
                     ("torchvision end to end (MMDetection's anchors)", lo["own"]),
                     ("torchvision, its own anchors (sizes 32..512, rounded)", lo["stock"])):
        print("    %-62s %13.7f %13.7f %13.7f %13.7f %9.4f" % ((label,) + tuple(d[k] for k in terms)))
        print("    %-62s %13s %13s %13s %13s" % (("  relative to tgc",) +
                                                 tuple("%+.1e" % ((d[k] - t[k]) / t[k]) for k in terms[:4])))
    print("    RPN: anchors within %.2g px of MMDetection's, assignment differs at %d anchors, positives %s (tgc) %s "
          "(torchvision) of %d assigned, %d positives with another box target (a low-quality match's gt); proposals "
          "per image (tgc, torchvision) %s, %d of tgc's not within %.2g px of one of torchvision's (the farthest "
          "%.2g px); R-CNN: %d RoIs (%d positive), head outputs on tgc's proposals within %.1e (logits) and "
          "%.1e (deltas) of their largest magnitude" %
          (lo["anchor_diff_px"], lo["assign_diff"], lo["num_pos"][0], lo["num_pos"][1], lo["rpn_assigned"],
           lo["rpn_target_diff"], lo["proposal_counts"], lo["proposals_unmatched"], lo["proposal_tol"],
           lo["proposal_max_dist"],
           lo["fed"]["rois"], lo["fed"]["roi_pos"], lo["head_err"][0], lo["head_err"][1]))
    print("    torchvision's loss_rpn_bbox on tgc's RPN box targets (MMDetection's gt for a low-quality match): %.7f "
          "(%+.1e)" % (lo["tv_rpn_bbox_mmdet_targets"], (lo["tv_rpn_bbox_mmdet_targets"] - t["loss_rpn_bbox"]) /
                       t["loss_rpn_bbox"]))
    print("    tgc's host RPN targets for the batch (built by the loader's workers, not in its step time): %.0f ms"
          % lo["target_ms"])


if __name__ == "__main__":
    sys.exit(main())
