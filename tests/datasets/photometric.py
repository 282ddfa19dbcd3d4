#!/usr/bin/env python3
"""tests/datasets/photometric.py - golden outputs of MMPretrain 1.2's ColorJitter and RandomErasing (mmcv's
Pillow backend) for tests/unit/test_data_photometric.c.

    photometric.py golden OUT     (a Python with MMPretrain) writes OUT

One image (13 x 11, BGR, the pattern below, a grey first row) through mmcv.adjust_brightness, adjust_contrast,
adjust_color (ColorJitter's saturation) and adjust_hue with backend 'pillow' at several factors, and through
ColorJitter with its draws fixed (_rand_params replaced); RandomErasing's patch size from the values of its two
uniform draws (random_patch with np.random.uniform/randint replaced). Output lines:
    OP FACTOR HEX                              (OP: brightness contrast color hue; HEX: the BGR bytes, row-major)
    jitter O0O1O2O3 B C S H HEX                (the order of the operations; "-" for an operation left out)
    erase_size IMG_H IMG_W LOG_ASPECT AREA_RATIO H W
"""
import sys

W, H = 13, 11


def pattern():
    import numpy as np
    img = np.zeros((H, W, 3), np.uint8)
    for y in range(H):
        for x in range(W):
            for c in range(3):
                img[y, x, c] = (x * 19) & 255 if y == 0 else (x * 37 + y * 91 + c * 53 + x * y * 7) & 255
    img[1, 0] = (0, 0, 0)
    img[1, 1] = (255, 255, 255)
    return img


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "golden":
        sys.exit(__doc__)
    import mmcv
    import mmengine
    import mmpretrain
    import numpy as np
    import PIL
    from mmpretrain.datasets.transforms import ColorJitter, RandomErasing
    img = pattern()
    lines = ["# MMPretrain %s, mmcv %s, MMEngine %s, Pillow %s, numpy %s: tests/datasets/photometric.py golden" %
             (mmpretrain.__version__, mmcv.__version__, mmengine.__version__, PIL.__version__, np.__version__)]
    ops = {"brightness": (mmcv.adjust_brightness, [0.0, 0.37, 0.999, 1.0, 1.63, 2.2]),
           "contrast": (mmcv.adjust_contrast, [0.0, 0.4, 1.35, 1.9]),
           "color": (lambda im, f, backend: mmcv.adjust_color(im, alpha=f, backend=backend), [0.0, 0.5, 1.7]),
           "hue": (mmcv.adjust_hue, [-0.5, -0.23, -0.0001, 0.1, 0.27, 0.5])}
    import warnings
    warnings.simplefilter("ignore")
    for name, (fn, factors) in ops.items():
        for f in factors:
            out = fn(img.copy(), f, backend="pillow")
            lines.append("%s %r %s" % (name, f, out.tobytes().hex()))
    rng = np.random.default_rng(7)
    for k in range(6):
        cj = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2 if k % 2 else 0.0)
        order = rng.permutation(4)
        b, c, s = (float(v) for v in rng.uniform(0.6, 1.4, 3))
        h = float(rng.uniform(-0.2, 0.2)) if k % 2 else None
        cj._rand_params = lambda o=order, p=(b, c, s, h): (o, *p)
        out = cj.transform({"img": img.copy()})["img"]
        lines.append("jitter %s %r %r %r %s %s" % ("".join(map(str, order)), b, c, s, "-" if h is None else repr(h),
                                                   out.tobytes().hex()))
    re = RandomErasing(min_area_ratio=0.02, max_area_ratio=1 / 3)
    lo, hi = np.log(np.array(re.aspect_range, dtype=np.float32))
    for ih, iw, ua, ur in [(11, 13, 0.0, 0.0), (11, 13, 0.5, 0.5), (11, 13, 0.999, 0.2), (224, 224, 0.3, 0.9),
                           (224, 224, 0.75, 0.25), (37, 5, 0.9, 1.0), (480, 640, 0.123, 0.456), (1, 1, 0.5, 0.5)]:
        la = float(lo + (hi - lo) * ua)
        ar = 0.02 + (1 / 3 - 0.02) * ur
        vals = iter([la, ar])
        real_uniform, real_randint = np.random.uniform, np.random.randint
        np.random.uniform = lambda *a, **k: next(vals)
        np.random.randint = lambda *a, **k: 0
        try:
            _, _, h, w = re.random_patch(ih, iw)
        finally:
            np.random.uniform, np.random.randint = real_uniform, real_randint
        lines.append("erase_size %d %d %r %r %d %d" % (ih, iw, la, ar, h, w))
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
