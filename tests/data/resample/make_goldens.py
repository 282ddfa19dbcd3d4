#!/usr/bin/env python3
"""Reference outputs of the image resampling tgc reproduces (runtime/data/data_warp.c, data_resample.c).

Run with a Python that has mmcv (2.x, or mmcv-lite), opencv-python and Pillow:

    python make_goldens.py OUTDIR            # the small committed set (warp.golden, resize.golden)
    python make_goldens.py OUTDIR --large [--seed N]  # and a larger random set, for the live comparison

Each file starts with "TGC-GOLDEN 1", comment lines "# ..." (the library versions), then records of one
text line followed by raw bytes (and a newline):
    image ID W H C                               W*H*C bytes (HWC, u8)
    warp ID INTERP B0 B1 B2 B3 M0 M1 M2 M3 M4 M5  the output, the size of image ID
                                                   (cv2.warpAffine with the forward matrix M, constant border B)
    rotate ID INTERP B0 B1 B2 B3 CX CY ANGLE SCALE  mmcv.imrotate (centre, angle in degrees, scale)
    resize ID BACKEND INTERP OW OH                OW*OH*C bytes (mmcv.imresize)
INTERP is nearest, bilinear or bicubic; BACKEND cv2 or pillow.
"""
import argparse
import os
import sys

import cv2
import mmcv
import numpy as np
import PIL

INTERPS = ["nearest", "bilinear", "bicubic"]


class Writer:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(b"TGC-GOLDEN 1\n")
        self.f.write(("# made by make_goldens.py: python %s, numpy %s, opencv %s, Pillow %s, mmcv %s\n" %
                      (sys.version.split()[0], np.__version__, cv2.__version__, PIL.__version__,
                       mmcv.__version__)).encode())
        self.images = {}

    def record(self, line, data):
        data = np.ascontiguousarray(data, dtype=np.uint8)
        self.f.write((line + "\n").encode())
        self.f.write(data.tobytes())
        self.f.write(b"\n")

    def image(self, iid, img):
        self.images[iid] = img
        h, w = img.shape[:2]
        c = img.shape[2] if img.ndim == 3 else 1
        self.record("image %d %d %d %d" % (iid, w, h, c), img)

    def close(self):
        self.f.close()


def make_image(rng, w, h, c, smooth):
    if smooth:  # a gradient with mild noise: resampling errors show as single-level differences
        y, x = np.mgrid[0:h, 0:w]
        base = (x * 255.0 / max(w - 1, 1) * 0.6 + y * 255.0 / max(h - 1, 1) * 0.4)
        img = np.stack([base + 20 * k for k in range(c)], axis=-1) + rng.randint(-8, 9, (h, w, c))
        img = np.clip(img, 0, 255).astype(np.uint8)
    else:
        img = rng.randint(0, 256, (h, w, c)).astype(np.uint8)
    return img[:, :, 0] if c == 1 else img


def border_of(b, c):
    return tuple(int(v) for v in b[:c]) if c > 1 else int(b[0])


def used_border(border, c):
    """imshear and imtranslate pass border_value[:3] to cv2: a fourth channel's border is 0."""
    return tuple(border[:3]) + (0,) if c == 4 else tuple(border)


def warp(wr, iid, interp, border, M):
    img = wr.images[iid]
    h, w = img.shape[:2]
    c = img.shape[2] if img.ndim == 3 else 1
    out = cv2.warpAffine(img, np.asarray(M, dtype=np.float64).reshape(2, 3), (w, h),
                         flags=mmcv.image.geometric.cv2_interp_codes[interp],
                         borderMode=cv2.BORDER_CONSTANT, borderValue=border_of(border, c))
    m = " ".join("%.17g" % float(v) for v in np.asarray(M, dtype=np.float64).ravel())
    wr.record("warp %d %s %d %d %d %d %s" % ((iid, interp) + tuple(border) + (m,)), out)


def shear(wr, iid, interp, border, magnitude, direction):
    """mmcv.imshear: its float32 matrix, recorded as the doubles cv2 receives."""
    img = wr.images[iid]
    c = img.shape[2] if img.ndim == 3 else 1
    out = mmcv.imshear(img, magnitude, direction, border_value=border_of(border, c), interpolation=interp)
    M = np.float32([[1, magnitude, 0], [0, 1, 0]] if direction == "horizontal" else [[1, 0, 0], [magnitude, 1, 0]])
    m = " ".join("%.17g" % float(v) for v in M.astype(np.float64).ravel())
    wr.record("warp %d %s %d %d %d %d %s" % ((iid, interp) + used_border(border, c) + (m,)), out)


def translate(wr, iid, interp, border, offset, direction):
    img = wr.images[iid]
    c = img.shape[2] if img.ndim == 3 else 1
    out = mmcv.imtranslate(img, offset, direction, border_value=border_of(border, c), interpolation=interp)
    M = np.float32([[1, 0, offset], [0, 1, 0]] if direction == "horizontal" else [[1, 0, 0], [0, 1, offset]])
    m = " ".join("%.17g" % float(v) for v in M.astype(np.float64).ravel())
    wr.record("warp %d %s %d %d %d %d %s" % ((iid, interp) + used_border(border, c) + (m,)), out)


def rotate(wr, iid, interp, border, angle, scale, center=None):
    img = wr.images[iid]
    h, w = img.shape[:2]
    c = img.shape[2] if img.ndim == 3 else 1
    out = mmcv.imrotate(img, angle, center=center, scale=scale, border_value=border_of(border, c),
                        interpolation=interp)
    cx, cy = center if center is not None else ((w - 1) * 0.5, (h - 1) * 0.5)
    wr.record("rotate %d %s %d %d %d %d %.17g %.17g %.17g %.17g" % ((iid, interp) + tuple(border) +
                                                                   (cx, cy, angle, scale)), out)


def resize(wr, iid, backend, interp, ow, oh):
    out = mmcv.imresize(wr.images[iid], (ow, oh), interpolation=interp, backend=backend)
    wr.record("resize %d %s %s %d %d" % (iid, backend, interp, ow, oh), out)


def small(outdir):
    rng = np.random.RandomState(15)
    wr = Writer(os.path.join(outdir, "warp.golden"))
    wr.image(0, make_image(rng, 11, 9, 3, False))
    wr.image(1, make_image(rng, 10, 8, 1, True))
    wr.image(2, make_image(rng, 7, 6, 4, False))
    b3, b4 = (128, 128, 128, 0), (0, 10, 200, 255)
    for interp in INTERPS:
        shear(wr, 0, interp, b3, 0.3, "horizontal")
        shear(wr, 1, interp, b3, -0.17, "vertical")
        translate(wr, 0, interp, b4, 3.7, "horizontal")
        translate(wr, 1, interp, b3, -2.25, "vertical")
        rotate(wr, 0, interp, b3, 30.5, 1.0)
        rotate(wr, 1, interp, b4, -13.3, 1.1)
        warp(wr, 2, interp, b4, [0.9, 0.21, 1.3, -0.35, 1.17, -0.6])
    warp(wr, 0, "bilinear", b3, [1, 0, 2, 0, 1, -1])        # integer shift
    warp(wr, 2, "bicubic", b4, [0, 0, 0, 0, 0, 0])           # singular: cv2 maps everything to the origin
    warp(wr, 1, "nearest", b4, [1, 0, 1e6, 0, 1, 0])          # far outside: all border
    wr.close()

    wr = Writer(os.path.join(outdir, "resize.golden"))
    wr.image(0, make_image(rng, 13, 11, 3, False))
    wr.image(1, make_image(rng, 37, 29, 3, True))
    wr.image(2, make_image(rng, 9, 7, 1, True))
    for backend in ["cv2", "pillow"]:
        for interp in INTERPS:
            resize(wr, 0, backend, interp, 20, 16)   # up
            resize(wr, 1, backend, interp, 12, 9)    # down by about 3
            resize(wr, 2, backend, interp, 5, 11)    # down in x, up in y
            resize(wr, 0, backend, interp, 13, 5)    # one axis only
    wr.close()


def large(outdir, seed):
    rng = np.random.RandomState(seed)
    wr = Writer(os.path.join(outdir, "warp_large.golden"))
    sizes = [(64, 48, 3), (33, 57, 1), (40, 40, 4), (31, 29, 2), (128, 96, 3)]
    for i, (w, h, c) in enumerate(sizes):
        wr.image(i, make_image(rng, w, h, c, i % 2 == 1))
    for i in range(len(sizes)):
        for interp in INTERPS:
            b = tuple(int(v) for v in rng.randint(0, 256, 4))
            shear(wr, i, interp, b, float(rng.uniform(-0.3, 0.3)), "horizontal")
            shear(wr, i, interp, b, float(rng.uniform(-0.3, 0.3)), "vertical")
            translate(wr, i, interp, b, float(rng.uniform(-20, 20)), "horizontal")
            translate(wr, i, interp, b, float(rng.uniform(-20, 20)), "vertical")
            rotate(wr, i, interp, b, float(rng.uniform(-180, 180)), float(rng.uniform(0.5, 1.5)))
            rotate(wr, i, interp, b, float(rng.uniform(-30, 30)), 1.0,
                   center=(float(rng.uniform(0, 40)), float(rng.uniform(0, 40))))
            warp(wr, i, interp, b, list(rng.uniform(-2, 2, 6) * [1, 1, 10, 1, 1, 10]))
    wr.close()

    wr = Writer(os.path.join(outdir, "resize_large.golden"))
    sizes = [(64, 48, 3), (33, 57, 1), (250, 190, 3), (17, 300, 3)]
    for i, (w, h, c) in enumerate(sizes):
        wr.image(i, make_image(rng, w, h, c, i % 2 == 0))
    for i, (w, h, c) in enumerate(sizes):
        for backend in ["cv2", "pillow"]:
            for interp in INTERPS:
                for _ in range(4):
                    ow, oh = int(rng.randint(1, 2 * w + 2)), int(rng.randint(1, 2 * h + 2))
                    resize(wr, i, backend, interp, ow, oh)
                resize(wr, i, backend, interp, 224, 224)
    # two channels: cv2 only (Pillow would take them as LA and premultiply, which tgc does not reproduce)
    wr.image(len(sizes), make_image(rng, 45, 38, 2, False))
    for interp in INTERPS:
        for _ in range(3):
            resize(wr, len(sizes), "cv2", interp, int(rng.randint(1, 92)), int(rng.randint(1, 78)))
    wr.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--large", action="store_true")
    ap.add_argument("--seed", type=int, default=2015, help="of the large set's images, sizes and parameters")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    small(a.outdir)
    if a.large:
        large(a.outdir, a.seed)


if __name__ == "__main__":
    main()
