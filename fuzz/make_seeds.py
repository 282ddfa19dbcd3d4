"""fuzz/make_seeds.py - writes the seed corpora fuzz/corpus/NAME/ (small valid inputs of each reader).

usage: /usr/bin/python3 fuzz/make_seeds.py TGC_BINARY   (needs Debian's python3-torch, numpy and PIL)

The seeds are committed; rerun this only to change them. Every file stays under 20 KiB.
"""
import collections
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "numerics"))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pth_seeds(torch):
    sd = collections.OrderedDict()
    sd["backbone.conv1.weight"] = torch.arange(12, dtype=torch.float32).reshape(2, 1, 2, 3)
    sd["backbone.bn1.running_mean"] = torch.zeros(2, dtype=torch.float16)
    sd["backbone.bn1.num_batches_tracked"] = torch.tensor(3)
    sd["head.fc.weight"] = torch.ones(3, 2, dtype=torch.bfloat16).t()
    tmp = tempfile.mkdtemp()
    try:
        for name, obj in [("plain", sd), ("mmengine", {"meta": {"cfg": "x", "epoch": 1}, "state_dict": sd,
                                                          "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}})]:
            path = os.path.join(tmp, name + ".pth")
            torch.save(obj, path)
            data = open(path, "rb").read()
            put("pth", name + ".pth", data)
            import zipfile
            with zipfile.ZipFile(path) as z:
                put("pickle", name + ".pkl", z.read(name + "/data.pkl"))
    finally:
        shutil.rmtree(tmp)
    import pickle
    put("pickle", "proto2_mixed.pkl", pickle.dumps({"a": [1, 2.5, None, True, "s", b"b", (1, 2)], "big": 2 ** 40}, 2))
    put("pickle", "proto4.pkl", pickle.dumps(collections.OrderedDict(x=[{}, set([1])]), 4))
    put("pickle", "proto0.pkl", pickle.dumps({"a": 1, "b": 1.5}, 0))


def safetensors_seed():
    header = {"__metadata__": {"format": "pt", "config": "c"},
              "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
              "h": {"dtype": "F16", "shape": [2], "data_offsets": [16, 20]}}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    put("safetensors", "small.safetensors", struct.pack("<Q", len(h)) + h + bytes(range(20)))


def ckpt_seed():
    import numpy as np
    import tgc_ckpt
    put("ckpt", "small.ckpt", tgc_ckpt.dumps(collections.OrderedDict(
        [("w", np.arange(6, dtype=np.float32).reshape(2, 3)), ("b", np.zeros(2, np.int64))]),
        {"epoch": 2, "best_value": 0.5, "log_window": "1.0,2.0"}, plan_checksum=7))


def plan_seed(tgc):
    tmp = tempfile.mkdtemp()
    try:
        out = os.path.join(tmp, "p.bin")
        for layout, name in (("row", "lenet5_plan.bin"), ("nhwc", "lenet5_nhwc_plan.bin")):
            subprocess.run([tgc, "compile", os.path.join(HERE, "..", "tests", "numerics", "lenet5.yaml"), "-o", out,
                            "--layout", layout], check=True, capture_output=True)
            put("plan", name, open(out, "rb").read())
    finally:
        shutil.rmtree(tmp)


def cfg_seeds():
    sep = b"\n%%%\n"
    put("cfg", "bases.yaml", b"_base_: [base1.yaml, sub/base3.yaml]\nmodel:\n  head: {num_classes: 5}\n" + sep +
        b"model:\n  type: ImageClassifier\n  head: {type: LinearClsHead, num_classes: 10, topk: [1, 5]}\n" + sep +
        b"x: &a {k: 1}\ny: *a\nz:\n  <<: *a\n  k2: 2\n" + sep + b"_base_: ../base2.yaml\nw: [1, 2.5, 1e-4, true, null]\n")
    put("cfg", "delete.yaml", b"_base_: base1.yaml\nmodel:\n  _delete_: true\n  type: X\n" + sep +
        b"model: {type: A, a: 1}\n")
    put("cfg", "scalars.yaml", b"a: 'q'\nb: \"\\u00e9\"\nc: !!str 1\nd: |\n  text\n  more\ne: 0x1f\nf: -.inf\n")


def cfg_options_seeds():
    put("cfg_options", "options.txt", b"model.head.num_classes=100\ntrain_dataloader.batch_size=64\n"
        b"model.head.topk=[1,(2,3)]\ntrain_dataloader.dataset.pipeline.0.crop_size=24\nnew.key=\"s\"\n"
        b"a.b=None\nc=true\nd=1e-3,2\n")


def cfg_py_seeds():
    # main.py, base1.py, base2.yaml and sub/base3.py, separated by "\n%%%\n" lines (fuzz/fuzz_cfg_py.c)
    put("cfg_py", "bases.py", b"_base_ = ['./base1.py', './base2.yaml']\nlr = 0.1 * 2\nmodel = dict(type='ImageClassifier', backbone=dict(depth=18, out_indices=(3,)), head=dict(num_classes=10))\noptim_wrapper = dict(optimizer=dict(lr=lr, momentum=0.9), _delete_=True)\nimg_scales = [(224, 224), (256, 256)]\npipeline = [dict(type='Resize', scale=s) for s in img_scales]\nmean = [round(x * 255) for x in [0.485, 0.456, 0.406]][::-1]\n_base_.train_cfg.max_epochs = 3\n%%%\ntrain_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)\ndata_root = 'data/'\nann = data_root + 'annotations/x.json'\n%%%\ndefault_hooks:\n  logger: {type: LoggerHook, interval: 100}\n")
    put("cfg_py", "read_base.py", b"from mmengine.config import read_base\nwith read_base():\n    from .sub.base3 import *\n"
        b"x = {**base_dict, 'extra': len(names), 'm': max(1, min(4, 2)), 'r': list(range(3)), 's': sum([1, 2])}\n"
        b"y = {k: x[k] for k in ['m', 's'] if k != 'extra'}\nz = x['m'] if x['r'] else None\n"
        b"\n%%%\nunused = 1\n%%%\nunused: 2\n%%%\n"
        b"base_dict = dict(a=1, b='two', c=[1.5, -2e3, True, None])\nnames = ('p', 'q')\n")
    put("cfg_py", "exprs.py", b"x = [dict(a=[[[[[[[[1]]]]]]]]) for i in range(2)] + [1] * 3\ny = 'abc'[1:] + str(int(3.7)) + str(abs(-2))\nz = x[0]['a'][0]\n")


def idx_seeds():
    images = struct.pack(">IIII", 0x803, 3, 2, 2) + bytes(range(12))
    labels = struct.pack(">II", 0x801, 3) + bytes([1, 0, 9])
    put("idx", "images.idx", images)
    put("idx", "labels.idx", labels)
    put("idx", "images.idx.gz", gzip.compress(images, mtime=0))


def image_seeds():
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)
    for mode, arr in [("RGB", rgb), ("L", rgb[..., 0]), ("RGBA", np.dstack([rgb, rgb[..., :1]]))]:
        b = io.BytesIO()
        Image.fromarray(arr, mode).save(b, "PNG")
        put("image", "small_%s.png" % mode.lower(), b.getvalue())
    b = io.BytesIO()
    Image.fromarray(rgb, "RGB").convert("P").save(b, "PNG")
    put("image", "small_palette.png", b.getvalue())
    for mode, arr in [("RGB", rgb), ("L", rgb[..., 0])]:
        b = io.BytesIO()
        Image.fromarray(arr, mode).save(b, "JPEG", quality=80)
        put("image", "small_%s.jpg" % mode.lower(), b.getvalue())
    b = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(b, "JPEG", quality=80, progressive=True)
    put("image", "small_progressive.jpg", b.getvalue())


def coco_seeds():
    put("coco", "good.json", json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 4, "height": 3},
                   {"id": 2, "file_name": "a.png", "width": 4, "height": 3}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0.5, 0, 2, 2], "area": 4},
                        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [1, 1, 3, 2], "area": 6, "iscrowd": 1},
                        {"id": 3, "image_id": 2, "category_id": 3, "bbox": [9, 9, 1, 1], "area": 1, "ignore": True}],
        "categories": [{"id": 1, "name": "a"}, {"id": 3, "name": "c"}, {"id": 4, "name": "d"}]}).encode())
    put("coco", "bad_bbox.json", b'{"images": [], "annotations": [{"id": 1, "image_id": 1, "bbox": [1]}], "categories": []}')


def lists_seeds():
    put("lists", "cub.txt", b"1 a.jpg\n2 a.jpg\n%%%\n2 7\n1 200\n%%%\n1 1\n2 0\n")
    put("lists", "ann.txt", b"a.jpg 3\n\nb/c.png 0\r\n")
    put("lists", "bad_ids.txt", b"1 a.jpg\n1 a.jpg\n%%%\n3 1\n%%%\n1 2\n")


def store_seeds():
    def req(op, key, val=b"", tmo=1000):
        return struct.pack("<IIIII", 0x53434754, op, len(key), len(val), tmo) + key + val
    hello = req(1, b"fuzz-token", struct.pack("<III", 1, 1, 2))
    put("store", "hello_set_get_add.bin", hello + b"|||" + req(2, b"k", b"v") + b"|||" + req(3, b"k") + req(5, b"n", struct.pack("<q", 3))
        + b"|||" + req(4, b"k", tmo=10) + req(6, b""))
    put("store", "wrong_token.bin", req(1, b"other", struct.pack("<III", 1, 1, 2)))
    put("store", "before_hello.bin", req(2, b"k", b"v"))
    put("store", "http.bin", b"GET / HTTP/1.0\r\n\r\n")


def cifar_seeds():
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "datasets"))
    import numpy as np
    import cifar_fixtures
    rng = np.random.default_rng(1)
    put("cifar", "batch_2.pkl", cifar_fixtures.batch(rng, 2, ["labels"], [10], "training batch 1 of 5"))
    put("cifar", "batch100_1.pkl", cifar_fixtures.batch(rng, 1, ["fine_labels", "coarse_labels"], [100, 20], "x"))
    put("cifar", "meta.pkl", cifar_fixtures.meta([("label_names", ["airplane", "automobile"])]))


def main():
    import torch
    pth_seeds(torch)
    safetensors_seed()
    ckpt_seed()
    plan_seed(sys.argv[1])
    cfg_seeds()
    cfg_options_seeds()
    cfg_py_seeds()
    idx_seeds()
    image_seeds()
    coco_seeds()
    lists_seeds()
    store_seeds()
    cifar_seeds()


if __name__ == "__main__":
    main()
