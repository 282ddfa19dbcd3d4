#!/usr/bin/env python3
"""tests/datasets/fixtures.py - small dataset folders in the shapes of MMPretrain's CUB, ImageNet21k, ImageNet
and CustomDataset, and the dataset settings the tests read them with.

    fixtures.py make DIR                       build the folders under DIR (PIL writes the images)
    fixtures.py golden OUT                     (a Python with MMPretrain) OUT: each case's sample list
    fixtures.py check DIR GOLDEN LIST_TOOL [--mmpretrain PYTHON]
                                               makes DIR, then compares tgc's lists (LIST_TOOL CONFIG KEY) with
                                               GOLDEN, and with MMPretrain's run live by PYTHON when given

A sample list is one line per sample, "relative/path label" (paths relative to DIR), after a first line
"classes N" (N: the dataset's class count, "-" when it has no class names); a case MMPretrain refuses is one
line "error". The images are a few pixels wide: the lists do not depend on their content.
"""
import json
import os
import subprocess
import sys

# (folder, width, height, format) of every image; the formats vary so that both decoders are used.
IMAGES = [
    ("cub/images/001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg", 40, 30, "JPEG"),
    ("cub/images/001.Black_footed_Albatross/Black_Footed_Albatross_0002_55.jpg", 36, 44, "JPEG"),
    ("cub/images/002.Laysan_Albatross/Laysan_Albatross_0001_545.jpg", 48, 32, "PNG"),
    ("cub/images/002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg", 30, 30, "JPEG"),
    ("cub/images/003.Sooty_Albatross/Sooty_Albatross_0001_1071.jpg", 50, 40, "JPEG"),
    ("cub/images/003.Sooty_Albatross/Sooty_Albatross_0002_796339.jpg", 33, 47, "JPEG"),
    ("cub/images/200.Common_Yellowthroat/Common_Yellowthroat_0003_190521.jpg", 41, 39, "JPEG"),
    ("in21k/train/n00004475/n00004475_1.JPEG", 40, 32, "JPEG"),
    ("in21k/train/n00004475/n00004475_22.png", 32, 40, "PNG"),
    ("in21k/train/n00005787/n00005787_3.JPEG", 44, 36, "JPEG"),
    ("in21k/train/n00006024/sub/n00006024_7.jpeg", 38, 38, "JPEG"),
    ("in21k/train/n00006024/n00006024_10.JPEG", 36, 36, "JPEG"),
    ("in21k/train/n00006024/notes.txt", 0, 0, "TEXT"),
    ("imagenet/train/n01440764/n01440764_10026.JPEG", 40, 30, "JPEG"),
    ("imagenet/train/n01440764/n01440764_10027.JPEG", 30, 40, "JPEG"),
    ("imagenet/train/n01443537/n01443537_10007.JPEG", 44, 33, "JPEG"),
    ("imagenet/train/n01484850/n01484850_10016.png", 35, 35, "PNG"),
    ("imagenet/val/ILSVRC2012_val_00000001.JPEG", 40, 30, "JPEG"),
    ("imagenet/val/ILSVRC2012_val_00000002.JPEG", 30, 40, "JPEG"),
    ("imagenet/val/ILSVRC2012_val_00000003.JPEG", 44, 44, "JPEG"),
    ("custom/pics/zebra/z1.PNG", 20, 20, "PNG"),
    ("custom/pics/zebra/deep/er/z0.jpg", 20, 24, "JPEG"),
    ("custom/pics/ant/a1.Jpeg", 24, 20, "JPEG"),
    ("custom/pics/ant/.hidden.png", 20, 20, "PNG"),
    ("custom/pics/ant/a0.png", 22, 22, "PNG"),
    ("custom/pics/.cache/c.png", 20, 20, "PNG"),
    ("custom/pics/bee/readme.md", 0, 0, "TEXT"),
    ("custom/pics/bee/b1.jpg", 26, 20, "JPEG"),
]

# folders without images (a class MMPretrain keeps, with a warning)
EMPTY_DIRS = ["custom/pics/emu"]

TEXTS = {
    # CUB-200-2011's files: 1-based ids; images.txt sets the order (here not sorted by id), the other two
    # are matched by id (listed in another order); train_test_split: 1 train, 0 test.
    "cub/images.txt": """1 001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg
2 001.Black_footed_Albatross/Black_Footed_Albatross_0002_55.jpg
4 002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg
3 002.Laysan_Albatross/Laysan_Albatross_0001_545.jpg
5 003.Sooty_Albatross/Sooty_Albatross_0001_1071.jpg
6 003.Sooty_Albatross/Sooty_Albatross_0002_796339.jpg
7 200.Common_Yellowthroat/Common_Yellowthroat_0003_190521.jpg
""",
    "cub/image_class_labels.txt": "7 200\n6 3\n5 3\n4 2\n3 2\n2 1\n1 1\n",
    "cub/train_test_split.txt": "1 1\n2 0\n3 1\n4 0\n5 1\n6 0\n7 1\n",
    "cub/classes.txt": "1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n3 003.Sooty_Albatross\n"
                       "200 200.Common_Yellowthroat\n",
    "in21k/meta/train.txt": "n00004475/n00004475_1.JPEG 0\nn00005787/n00005787_3.JPEG 1\n"
                            "n00006024/sub/n00006024_7.jpeg 2\nn00004475/n00004475_22.png 0\n"
                            "n00006024/n00006024_10.JPEG 21841\n",
    "imagenet/meta/val.txt": "ILSVRC2012_val_00000001.JPEG 65\nILSVRC2012_val_00000002.JPEG 970\n"
                             "ILSVRC2012_val_00000003.JPEG 230\n",
    "custom/ann.txt": "bee/b1.jpg 1\nzebra/deep/er/z0.jpg 2\nant/a0.png 0\n",
    "custom/classes.txt": "ant\nbee\nzebra\n",
}

# name -> the dataset settings ("@" stands for DIR). Cases with "tgc_only" are not built by MMPretrain.
CASES = {
    "cub_train": {"type": "CUB", "data_root": "@/cub", "split": "train"},
    "cub_test": {"type": "CUB", "data_root": "@/cub", "split": "test"},
    "cub_default": {"type": "CUB", "data_root": "@/cub"},
    "in21k_ann": {"type": "ImageNet21k", "data_root": "@/in21k", "split": "train"},
    "in21k_scan": {"type": "ImageNet21k", "data_root": "@/in21k", "data_prefix": "train"},
    "in21k_classes": {"type": "ImageNet21k", "data_root": "@/in21k", "data_prefix": "train",
                      "classes": ["a", "b", "c"]},
    "imagenet_val": {"type": "ImageNet", "data_root": "@/imagenet", "split": "val"},
    "imagenet_train_1000": {"type": "ImageNet", "data_root": "@/imagenet", "split": "train"},
    "imagenet_train": {"type": "ImageNet", "data_root": "@/imagenet", "split": "train",
                       "metainfo": {"classes": ["tench", "goldfish", "great white shark"]}},
    "custom_scan": {"type": "CustomDataset", "data_root": "@/custom", "data_prefix": "pics"},
    "custom_ann": {"type": "CustomDataset", "data_root": "@/custom", "data_prefix": {"img_path": "pics"},
                   "ann_file": "ann.txt", "classes": "@/custom/classes.txt"},
    "custom_prefix_only": {"type": "CustomDataset", "data_prefix": "@/custom/pics", "with_label": True},
    "custom_png_only": {"type": "CustomDataset", "data_root": "@/custom", "data_prefix": "pics",
                        "extensions": [".PNG"]},
    "in21k_val": {"type": "ImageNet21k", "data_root": "@/in21k", "split": "val"},
    "cub_bad_split": {"type": "CUB", "data_root": "@/cub", "split": "val"},
    "custom_wrong_classes": {"type": "CustomDataset", "data_root": "@/custom", "data_prefix": "pics",
                             "metainfo": {"classes": ["ant", "bee", "emu", "zebra"]}},
}


def subst(v, root):
    if isinstance(v, str):
        return v.replace("@", root)
    if isinstance(v, list):
        return [subst(x, root) for x in v]
    if isinstance(v, dict):
        return {k: subst(x, root) for k, x in v.items()}
    return v


def make(root):
    from PIL import Image
    for rel, w, h, fmt in IMAGES:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if fmt == "TEXT":
            with open(path, "w") as f:
                f.write("not an image\n")
            continue
        # a smooth pattern that depends on the file, so that images differ
        seed = sum(map(ord, rel))
        img = Image.new("RGB", (w, h))
        img.putdata([((x * 7 + seed) % 256, (y * 5 + seed // 3) % 256, (x * y + seed // 7) % 256)
                     for y in range(h) for x in range(w)])
        img.save(path, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    for rel in EMPTY_DIRS:
        os.makedirs(os.path.join(root, rel), exist_ok=True)
    for rel, text in TEXTS.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def mmpretrain_list(root, case):
    """The sample list MMPretrain's own dataset class gives for one case (the lines of the golden file)."""
    from mmpretrain.registry import DATASETS
    import mmpretrain.datasets  # noqa: F401  (registers the dataset classes)
    try:
        ds = DATASETS.build(subst(CASES[case], root))
    except Exception:  # a refusal: the golden file says so; tgc must refuse too
        return ["error"]
    classes = ds.metainfo.get("classes")
    lines = ["classes %s" % (len(classes) if classes is not None else "-")]
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        lines.append("%s %d" % (os.path.relpath(info["img_path"], root), info["gt_label"]))
    return lines


def tgc_list(root, case, tool, work):
    """tgc's sample list for one case: LIST_TOOL on a YAML file holding the dataset map."""
    cfg = os.path.join(work, case + ".yaml")
    with open(cfg, "w") as f:
        f.write("dataset: %s\n" % json.dumps(subst(CASES[case], root)))  # JSON is YAML
    r = subprocess.run([tool, cfg, "dataset"], capture_output=True, text=True)
    if r.returncode != 0:
        return ["error"], r.stderr.strip()
    lines = r.stdout.splitlines()
    out = [lines[0]] + ["%s %s" % (os.path.relpath(p, root), l) for p, l in (x.rsplit(" ", 1) for x in lines[1:])]
    return out, ""


def versions():
    import mmengine
    import mmpretrain
    return "MMPretrain %s, MMEngine %s" % (mmpretrain.__version__, mmengine.__version__)


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "make" and len(sys.argv) == 3:
        make(sys.argv[2])
    elif cmd == "golden" and len(sys.argv) == 3:
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            root = os.path.join(d, "data")
            make(root)
            with open(sys.argv[2], "w") as f:
                f.write("# sample lists of MMPretrain's dataset classes on fixtures.py's folders (%s),\n"
                        "# made by: fixtures.py golden %s\n" % (versions(), os.path.basename(sys.argv[2])))
                for case in CASES:
                    f.write("== %s\n" % case)
                    f.write("".join(l + "\n" for l in mmpretrain_list(root, case)))
    elif cmd == "live" and len(sys.argv) == 4:  # (run by check, under MMPretrain's Python): lists as JSON
        lists = {c: mmpretrain_list(sys.argv[2], c) for c in CASES}
        with open(sys.argv[3], "w") as f:
            json.dump(lists, f)
    elif cmd == "check" and len(sys.argv) in (5, 7):
        root, golden_file, tool = sys.argv[2:5]
        golden, case = {}, None
        for line in open(golden_file):
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            if line.startswith("== "):
                case = line[3:]
                golden[case] = []
            else:
                golden[case].append(line)
        missing = set(CASES) ^ set(golden)
        if missing:
            sys.exit("FAIL: %s and fixtures.py disagree on the cases: %s" % (golden_file, sorted(missing)))
        import shutil
        shutil.rmtree(root, ignore_errors=True)
        make(root)
        work = root + "-cfg"
        os.makedirs(work, exist_ok=True)
        live = None
        if len(sys.argv) == 7:
            out = root + "-live.json"
            r = subprocess.run([sys.argv[6], __file__, "live", root, out], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit("FAIL: MMPretrain's lists: %s" % r.stderr[-2000:])
            with open(out) as f:
                live = json.load(f)
        bad = 0
        for case in CASES:
            got, why = tgc_list(root, case, tool, work)
            for name, want in (("golden", golden[case]), ("MMPretrain", live and live[case])):
                if want is not None and got != want:
                    bad += 1
                    print("FAIL: %s: tgc's list differs from %s's:\n  tgc:  %s\n  %s: %s%s" %
                          (case, name, got, name, want, "\n  tgc said: " + why if why else ""))
            print("%s: %s (%d samples)%s" % (case, "refused" if got == ["error"] else "ok", len(got) - 1,
                                             ": " + why.splitlines()[-1] if why else ""))
        if bad:
            sys.exit(1)
        print("%d cases equal to the golden lists%s" % (len(CASES), " and to MMPretrain's, run live" if live else ""))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
