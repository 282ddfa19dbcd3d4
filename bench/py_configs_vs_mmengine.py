#!/usr/bin/env python3
"""bench/py_configs_vs_mmengine.py CONFIG_DIR [--tgc TGC] - tgc's `.py` reader against MMEngine's own.

For every .py file under CONFIG_DIR (for example the configs MMPretrain's wheel ships in
mmpretrain/.mim/configs), `tgc convert FILE` and MMEngine's `Config.fromfile(FILE).to_dict()` are compared
value for value (tuples as lists, numbers by value). Prints one line per file that differs, then the
counts: read by both and equal, read by both and different, refused by tgc, refused by MMEngine.
Needs MMEngine importable (docs: an MMPretrain environment); a measurement, not part of the test suite.
"""
import argparse
import glob
import math
import os
import subprocess
import sys

import yaml

try:
    from mmengine import Config
except ImportError as e:
    sys.exit(f"MMEngine is not importable by {sys.executable} ({e})")


def norm(x):
    if isinstance(x, dict):
        return {str(k): norm(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [norm(v) for v in x]
    return x


def diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            out.append(f"{path or '.'}: keys only in MMEngine's {sorted(set(a) - set(b))[:3]}, "
                       f"only in tgc's {sorted(set(b) - set(a))[:3]}")
            return
        for k in a:
            diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items vs {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif isinstance(a, bool) or isinstance(b, bool):
        if a != b or type(a) is not type(b):
            out.append(f"{path}: {a!r} vs {b!r}")
    elif isinstance(a, (int, float)) or isinstance(b, (int, float)):
        try:  # tgc writes YAML 1.2 floats (1e-4) that PyYAML reads as strings
            fa, fb = float(a), float(b)
            if fa == fb or (math.isnan(fa) and math.isnan(fb)):
                return
        except (TypeError, ValueError):
            pass
        out.append(f"{path}: {a!r} vs {b!r}")
    elif a != b:
        out.append(f"{path}: {str(a)[:40]!r} vs {str(b)[:40]!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config_dir")
    ap.add_argument("--tgc", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "tgc"))
    args = ap.parse_args()
    same = different = tgc_refused = mmengine_refused = 0
    for f in sorted(glob.glob(os.path.join(args.config_dir, "**", "*.py"), recursive=True)):
        r = subprocess.run([args.tgc, "convert", f], capture_output=True, text=True)
        try:
            ref = norm(Config.fromfile(f).to_dict())
        except Exception:  # noqa: BLE001 - whatever MMEngine raises, the file is counted as refused
            mmengine_refused += 1
            continue
        if r.returncode != 0:
            tgc_refused += 1
            print(f"tgc refuses {os.path.relpath(f, args.config_dir)}: {r.stderr.strip().splitlines()[-1]}")
            continue
        out = []
        diff(ref, norm(yaml.safe_load(r.stdout)), "", out)
        if out:
            different += 1
            print(f"differs {os.path.relpath(f, args.config_dir)}: {'; '.join(out[:3])}")
        else:
            same += 1
    print(f"equal {same}, different {different}, refused by tgc {tgc_refused}, refused by MMEngine {mmengine_refused}")


if __name__ == "__main__":
    main()
