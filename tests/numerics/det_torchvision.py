"""Reference values for tests/unit/test_det_torch.c from torchvision.ops and torchvision's BoxCoder.

Usage: det_torchvision.py DIR N M. Reads DIR/{boxes,scores,classes,gts,targets,deltas}.f32 (float32, little
endian) and writes DIR/iou.f32 (box_iou(boxes, gts)), DIR/nms.i32 (nms(boxes, scores, 0.5)),
DIR/bnms.i32 (batched_nms(boxes, scores, classes, 0.5)), DIR/decode.f32 (deltas applied to boxes, clipped to
150 x 180) and DIR/encode.f32 (boxes -> targets). Exits 77 when torch or torchvision is missing.
"""
import math
import os
import sys

try:
    import numpy as np
    import torch
    import torchvision
    from torchvision.models.detection._utils import BoxCoder
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)


def main():
    d, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    def load(name, shape):
        return torch.from_numpy(np.fromfile(os.path.join(d, name), dtype="<f4").reshape(shape))

    def save(name, t, dtype):
        t.numpy().astype(dtype).tofile(os.path.join(d, name))

    boxes, scores = load("boxes.f32", (n, 4)), load("scores.f32", (n,))
    classes = load("classes.f32", (n,)).to(torch.int64)
    gts, targets, deltas = load("gts.f32", (m, 4)), load("targets.f32", (n, 4)), load("deltas.f32", (n, 4))
    save("iou.f32", torchvision.ops.box_iou(boxes, gts), "<f4")
    save("nms.i32", torchvision.ops.nms(boxes, scores, 0.5), "<i4")
    save("bnms.i32", torchvision.ops.batched_nms(boxes, scores, classes, 0.5), "<i4")
    coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0), bbox_xform_clip=math.log(1000.0 / 16))
    dec = coder.decode_single(deltas, boxes)
    save("decode.f32", torchvision.ops.clip_boxes_to_image(dec, (150, 180)), "<f4")
    save("encode.f32", coder.encode_single(targets, boxes), "<f4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
