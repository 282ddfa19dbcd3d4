#!/usr/bin/env python3
"""tgc's COCO bbox evaluator (runtime/det/coco_eval.c, run through tests/det/coco_eval_check.c) against
pycocotools' COCOeval on the same files.

Random ground truth and detections of several seeds, written as a COCO annotation file and a COCO result
file: crowd boxes, images without annotations or without detections, small/medium/large objects, `area`
fields that differ from w*h, integer boxes (IoUs exactly on a threshold), tied scores, a category without
ground truth, more than 100 detections of one category in one image, and maxDets 1 10 100 as well as
MMDetection's 100 300 1000. Asserts per case: the 12 stats agree to 1e-6, the summary lines are the same
text, and the result file tgc writes back reads back as the same detections.

pycocotools comes from the virtual environment tools/setup.sh makes (TGC_TB_PYTHON, .venv/bin/python3). If
this interpreter lacks it the script re-runs itself under that one; without it: exit 77 (skipped), or a
failure under CI=true.
"""
import argparse
import contextlib
import io
import json
import os
import random
import subprocess
import sys

TOL = 1e-6


def under_ci():
    return os.environ.get("CI", "") in ("true", "TRUE", "True", "1")


def ensure_pycocotools():
    try:
        import pycocotools.cocoeval  # noqa: F401
        return
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    venv = os.environ.get("TGC_TB_PYTHON") or os.path.join(here, "..", "..", ".venv", "bin", "python3")
    if os.path.isfile(venv) and os.access(venv, os.X_OK) and os.environ.get("TGC_COCO_REEXEC") != "1":
        os.environ["TGC_COCO_REEXEC"] = "1"
        os.execv(venv, [venv, os.path.abspath(__file__)] + sys.argv[1:])
    msg = "pycocotools not installed (tools/setup.sh installs it into .venv)"
    if under_ci():
        print("FAIL: " + msg + " (CI=true)")
        sys.exit(1)
    print("skipped: " + msg)
    sys.exit(77)


def rand_box(rng, canvas, integer):
    # sizes spread over the small (< 32^2), medium and large (> 96^2) ranges
    w = rng.choice([rng.uniform(2, 30), rng.uniform(30, 100), rng.uniform(90, 300)])
    h = w * rng.uniform(0.5, 2.0)
    x = rng.uniform(-5, canvas - w * 0.5)
    y = rng.uniform(-5, canvas - h * 0.5)
    if integer:
        x, y, w, h = float(round(x)), float(round(y)), float(max(1, round(w))), float(max(1, round(h)))
    return [x, y, w, h]


def jitter(rng, b, integer):
    x, y, w, h = b
    s = rng.choice([0.02, 0.05, 0.1, 0.25])
    nb = [x + rng.gauss(0, s * w), y + rng.gauss(0, s * h), w * rng.uniform(1 - s, 1 + s), h * rng.uniform(1 - s, 1 + s)]
    if integer:
        nb = [float(round(v)) for v in nb]
        nb[2], nb[3] = max(nb[2], 1.0), max(nb[3], 1.0)
    return nb


def make_case(seed):
    rng = random.Random(seed)
    canvas = 400
    cat_ids = rng.sample(range(1, 30), rng.randint(2, 6))  # file order not sorted
    images = rng.sample(range(1, 100000), rng.randint(5, 40))
    no_gt_cat = cat_ids[-1] if rng.random() < 0.5 else None  # a category without any ground truth
    gt_cats = [c for c in cat_ids if c != no_gt_cat]
    anns, dets = [], []
    ann_id = 0 if seed % 5 == 0 else 1  # an annotation id 0 (pycocotools counts its matches as none)
    for img in images:
        integer = rng.random() < 0.4
        n_gt = 0 if rng.random() < 0.2 else rng.randint(1, 8)
        for _ in range(n_gt):
            b = rand_box(rng, canvas, integer)
            area = b[2] * b[3] if rng.random() < 0.7 else b[2] * b[3] * rng.uniform(0.3, 1.3)
            crowd = 1 if rng.random() < 0.12 else 0
            cat = rng.choice(gt_cats)
            anns.append({"id": ann_id, "image_id": img, "category_id": cat, "bbox": b, "area": area,
                         "iscrowd": crowd})
            ann_id += 1
            if rng.random() < 0.15:
                continue  # missed
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                dcat = cat if rng.random() < 0.9 else rng.choice(cat_ids)
                dets.append({"image_id": img, "category_id": dcat, "bbox": jitter(rng, b, integer),
                             "score": round(rng.random(), rng.choice([2, 6, 17]))})
        if rng.random() < 0.25:
            continue  # no false positives on this image (may be an image without detections)
        for _ in range(rng.randint(0, 6)):
            dets.append({"image_id": img, "category_id": rng.choice(cat_ids), "bbox": rand_box(rng, canvas, integer),
                         "score": round(rng.random(), rng.choice([2, 6]))})
    if rng.random() < 0.5:  # more than 100 detections of one category in one image (the maxDets cut)
        img = rng.choice(images)
        cat = rng.choice(gt_cats)
        for _ in range(rng.randint(101, 180)):
            dets.append({"image_id": img, "category_id": cat, "bbox": rand_box(rng, canvas, False),
                         "score": round(rng.random(), 3)})
    rng.shuffle(dets)
    gt = {"images": [{"id": i, "width": canvas, "height": canvas, "file_name": "%d.png" % i} for i in images],
          "annotations": anns,
          "categories": [{"id": c, "name": "c%d" % c} for c in cat_ids]}
    max_dets = [100, 300, 1000] if seed % 3 == 2 else [1, 10, 100]
    return gt, dets, max_dets


def run_pycocotools(gt_path, dt_path, max_dets):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt_path)
        coco_dt = coco_gt.loadRes(dt_path)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ev.summarize()
    return [float(v) for v in ev.stats], out.getvalue()


def run_tgc(check, gt_path, dt_path, max_dets, prefix):
    p = subprocess.run([check, gt_path, dt_path, "--max-dets"] + [str(m) for m in max_dets] + ["--write", prefix],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("FAIL: %s exited %d: %s" % (check, p.returncode, p.stderr.strip()))
    lines = p.stdout.splitlines(keepends=True)
    stats = [float(v) for v in lines[-1].split()[1:]]
    return stats, "".join(lines[:-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", required=True, help="the coco_eval_check binary")
    ap.add_argument("--work", required=True)
    ap.add_argument("--seeds", type=int, default=24)
    args = ap.parse_args()
    ensure_pycocotools()
    os.makedirs(args.work, exist_ok=True)
    worst, n_stats, failures = 0.0, 0, []
    for seed in range(args.seeds):
        gt, dets, max_dets = make_case(seed)
        gt_path = os.path.join(args.work, "gt_%d.json" % seed)
        dt_path = os.path.join(args.work, "dt_%d.json" % seed)
        prefix = os.path.join(args.work, "out_%d" % seed)
        with open(gt_path, "w") as f:
            json.dump(gt, f)
        with open(dt_path, "w") as f:
            json.dump(dets, f)
        ref, ref_text = run_pycocotools(gt_path, dt_path, max_dets)
        got, got_text = run_tgc(args.check, gt_path, dt_path, max_dets, prefix)
        diff = max(abs(a - b) for a, b in zip(ref, got))
        worst = max(worst, diff)
        n_stats += len(ref)
        print("seed %2d: %2d images, %3d annotations, %4d detections, maxDets %s: max |diff| %.3g  AP %.6f" %
              (seed, len(gt["images"]), len(gt["annotations"]), len(dets), max_dets, diff, ref[0]))
        if len(got) != 12 or diff > TOL:
            failures.append("seed %d: stats differ\n  pycocotools %s\n  tgc         %s" % (seed, ref, got))
        if got_text != ref_text:
            failures.append("seed %d: summary text differs\n--- pycocotools\n%s--- tgc\n%s" % (seed, ref_text, got_text))
        with open(prefix + ".bbox.json") as f:
            back = json.load(f)
        if back != dets:
            failures.append("seed %d: %s.bbox.json does not read back as the detections" % (seed, prefix))
    print("%d cases, %d stats: max |tgc - pycocotools| = %.3g (tolerance %g)" % (args.seeds, n_stats, worst, TOL))
    if failures:
        print("FAIL:\n" + "\n".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
