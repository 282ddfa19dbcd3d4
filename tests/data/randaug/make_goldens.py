#!/usr/bin/env python3
"""Reference outputs of MMPretrain's RandAugment operations (runtime/data/data_randaug.c).

Run with a Python that has MMPretrain 1.x (with mmcv 2.x or mmcv-lite, opencv-python, numpy):

    python make_goldens.py OUTDIR          # writes OUTDIR/randaug.golden (the committed set)
    python make_goldens.py OUTDIR --large  # and random magnitudes on larger images (the live comparison)

Each operation is MMPretrain's own transform class (mmpretrain.registry.TRANSFORMS.build of the config)
applied with prob 1 and random_negative_prob 0, so that it is deterministic; Cutout's two centre draws
(np.random.uniform) are fixed and recorded. The format is tests/unit/test_golden.h's: "TGC-GOLDEN 1",
comment lines (the versions used), then records of one text line followed by the raw bytes and a newline:
    image ID W H C              W*H*C bytes (HWC, u8)
    aug ID Y0 X0 CONFIG         the output (the size of image ID): the transform CONFIG (JSON, which is also
                                YAML flow syntax) on image ID; Y0 X0 are Cutout's centre draws (- otherwise)
Grey images are 2-D arrays, as MMPretrain's MNIST datasets give them. MMPretrain's AutoContrast, Equalize,
Contrast and ColorTransform fail on those; for them the reference is channel 0 of the operation on the grey
image replicated to three channels (what tgc defines them as).
"""
import json
import os
import sys

import cv2
import mmcv
import mmpretrain
import numpy as np
from mmpretrain.registry import TRANSFORMS

GREY_VIA_BGR = {"AutoContrast", "Equalize", "Contrast", "ColorTransform"}
NEGATES = {"Shear", "Translate", "Rotate", "Contrast", "ColorTransform", "Brightness", "Sharpness",
           "AutoContrast", "Invert", "Equalize"}


def make_images():
    rng = np.random.RandomState(15)
    h, w = 20, 24
    y, x = np.mgrid[0:h, 0:w]
    base = x * 255.0 / (w - 1) * 0.7 + y * 255.0 / (h - 1) * 0.3
    smooth = np.stack([base, 255 - base, (base * 0.5 + 60)], -1) + rng.randint(-12, 13, (h, w, 3))
    smooth = np.clip(smooth, 0, 255).astype(np.uint8)
    noise = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
    # Fashion-MNIST-like: a dark background and a bright textured blob
    yy, xx = np.mgrid[0:28, 0:28]
    blob = ((yy - 14) / 11.0) ** 2 + ((xx - 13) / 8.0) ** 2 < 1
    grey = np.where(blob, 90 + 4 * ((yy + xx) % 30) + rng.randint(0, 20, (28, 28)), rng.randint(0, 3, (28, 28)))
    grey = np.clip(grey, 0, 255).astype(np.uint8)
    return [smooth, noise, grey]


def cases(grey):
    pad = 128 if grey else [104, 116, 124]
    out = []
    for m, extra in [(0.1, {}), (-0.3, {"interpolation": "nearest"}), (0.25, {"direction": "vertical"}),
                     (0.17, {"interpolation": "bilinear", "pad_val": pad})]:
        out.append(dict(type="Shear", magnitude=m, **extra))
    for m, extra in [(0.2, {}), (-0.45, {"direction": "vertical", "pad_val": pad}),
                     (0.13, {"interpolation": "bicubic"}), (0.31, {"interpolation": "bilinear"})]:
        out.append(dict(type="Translate", magnitude=m, **extra))
    for a, extra in [(13.7, {}), (-30.0, {"interpolation": "bicubic", "pad_val": pad}),
                     (26.666666666666668, {"interpolation": "bilinear"}),
                     (8.0, {"center": [5.0, 7.5], "scale": 1.2}),
                     (None, {"magnitude_range": [0, 30], "magnitude_level": 7, "interpolation": "bicubic"})]:
        d = dict(type="Rotate", **extra)
        if a is not None:
            d["angle"] = a
        out.append(d)
    out += [dict(type="AutoContrast"), dict(type="Invert"), dict(type="Equalize")]
    for t in [128, 113.77777777777777, 1, 255.5]:
        out.append(dict(type="Solarize", thr=t))
    out.append(dict(type="Solarize", magnitude_range=[256, 0], magnitude_level=7))
    for m, extra in [(50.5, {}), (110.0, {"thr": 150}), (77, {}), (200, {"thr": 140.5}), (300, {})]:
        out.append(dict(type="SolarizeAdd", magnitude=m, **extra))
    out.append(dict(type="SolarizeAdd", magnitude_range=[0, 110], magnitude_level=3.3))
    for b in [0, 1, 4, 8]:
        out.append(dict(type="Posterize", bits=b))
    out.append(dict(type="Posterize", magnitude_range=[4, 0], magnitude_level=7))
    for op in ["Contrast", "ColorTransform", "Brightness", "Sharpness"]:
        for m in [0.5, -0.63, 0.9, -0.9, 0.123]:
            out.append(dict(type=op, magnitude=m))
        out.append(dict(type=op, magnitude_range=[0, 0.9], magnitude_level=6.5))
    out.append(dict(type="Cutout", shape=5, pad_val=pad, _y0=7.3, _x0=20.9))
    out.append(dict(type="Cutout", shape=[3, 7], _y0=1.2, _x0=3.0))
    out.append(dict(type="Cutout", magnitude_range=[0, 12], magnitude_level=5, _y0=10.5, _x0=1.5))
    return out


def large_cases(rng, grey):
    """Random magnitudes, directions, interpolations and fills for every operation."""
    out = []
    for _ in range(6):
        pad = int(rng.randint(0, 256)) if grey else [int(v) for v in rng.randint(0, 256, 3)]
        interp = str(rng.choice(["nearest", "bilinear", "bicubic"]))
        d = str(rng.choice(["horizontal", "vertical"]))
        out.append(dict(type="Shear", magnitude=float(rng.uniform(-0.5, 0.5)), direction=d, interpolation=interp,
                        pad_val=pad))
        out.append(dict(type="Translate", magnitude=float(rng.uniform(-0.6, 0.6)), direction=d,
                        interpolation=interp, pad_val=pad))
        out.append(dict(type="Rotate", angle=float(rng.uniform(-180, 180)), interpolation=interp,
                        pad_val=pad if rng.rand() < 0.5 else 128))
        out.append(dict(type="Solarize", thr=float(rng.uniform(0, 256))))
        out.append(dict(type="SolarizeAdd", magnitude=float(rng.uniform(0, 120)), thr=int(rng.randint(0, 256))))
        out.append(dict(type="Posterize", magnitude_range=[8, 0], magnitude_level=float(rng.uniform(0, 10))))
        for op in ["Contrast", "ColorTransform", "Brightness", "Sharpness"]:
            out.append(dict(type=op, magnitude=float(rng.uniform(-1.2, 1.2))))
    out += [dict(type="AutoContrast"), dict(type="Equalize"), dict(type="Invert")]
    return out


def run(cfg, img):
    cfg = dict(cfg)
    y0, x0 = cfg.pop("_y0", None), cfg.pop("_x0", None)
    cfg["prob"] = 1.0
    if cfg["type"] in NEGATES:
        cfg["random_negative_prob"] = 0.0
    t = TRANSFORMS.build(json.loads(json.dumps(cfg)))
    if "pad_val" in cfg and isinstance(cfg["pad_val"], list):  # a Python config gives a tuple
        t.pad_val = tuple(cfg["pad_val"])
    if "center" in cfg:
        t.center = tuple(cfg["center"])
    if "shape" in cfg and isinstance(cfg["shape"], list):
        t.shape = tuple(cfg["shape"])
    saved = np.random.uniform
    draws = [y0, x0]
    if y0 is not None:
        np.random.uniform = lambda *a, **k: draws.pop(0)
    try:
        out = t(dict(img=img.copy()))["img"]
    finally:
        np.random.uniform = saved
    return cfg, out


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "randaug.golden"), "wb") as f:
        f.write(b"TGC-GOLDEN 1\n")
        f.write(("# made by make_goldens.py: python %s, numpy %s, opencv %s, mmcv %s, mmpretrain %s\n" %
                 (sys.version.split()[0], np.__version__, cv2.__version__, mmcv.__version__,
                  mmpretrain.__version__)).encode())

        def record(line, data):
            f.write((line + "\n").encode())
            f.write(np.ascontiguousarray(data, dtype=np.uint8).tobytes())
            f.write(b"\n")

        n = 0
        images = [(img, cases(img.ndim == 2)) for img in make_images()]
        if "--large" in sys.argv:
            rng = np.random.RandomState(1515)
            for shape in [(48, 64, 3), (61, 37, 3), (224, 224, 3), (28, 28), (57, 81)]:
                img = rng.randint(0, 256, shape).astype(np.uint8)
                if rng.rand() < 0.5:  # a narrower range of values, as photos have
                    img = (img // 3 + 60).astype(np.uint8)
                images.append((img, large_cases(rng, img.ndim == 2)))
        for iid, (img, todo) in enumerate(images):
            grey = img.ndim == 2
            h, w = img.shape[:2]
            record("image %d %d %d %d" % (iid, w, h, 1 if grey else 3), img)
            for cfg in todo:
                y0, x0 = cfg.get("_y0"), cfg.get("_x0")
                if grey and cfg["type"] in GREY_VIA_BGR:
                    used, out = run(cfg, np.repeat(img[..., None], 3, -1))
                    assert (out[..., 0] == out[..., 1]).all() and (out[..., 0] == out[..., 2]).all()
                    out = out[..., 0]
                else:
                    used, out = run(cfg, img)
                assert out.shape == img.shape and out.dtype == np.uint8, (cfg, out.shape, out.dtype)
                pos = "- -" if y0 is None else "%r %r" % (y0, x0)
                record("aug %d %s %s" % (iid, pos, json.dumps(used)), out)
                n += 1
    print("wrote %d records to %s" % (n, os.path.join(outdir, "randaug.golden")))


if __name__ == "__main__":
    main()
