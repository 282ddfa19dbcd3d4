#!/usr/bin/env python3
"""Writes MMPretrain's ResNet-family and LeNet configs as resolved YAML (bases merged by MMEngine's Config)
plus params.txt: each config's trainable parameter count as MMPretrain builds the model, and for one
config per backbone type names/<config>.txt: every trainable parameter's name and shape.

Usage: PYTHON transliterate.py MMPRETRAIN_CONFIG_DIR OUT_DIR
(PYTHON: an environment with mmpretrain 1.2.0 and mmengine 0.10.7; see the README of this folder.)
"""
import os
import sys

import yaml
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

GROUPS = ["resnet", "resnext", "seresnet", "lenet"]
NAMES = ["resnetv1c50_8xb32_in1k", "resnetv1d50_8xb32_in1k", "resnext50-32x4d_8xb32_in1k",
         "seresnet50_8xb32_in1k", "seresnext50-32x4d_8xb32_in1k", "resnet50_8xb16-mixup_cifar10"]


def plain(x):
    """Config values as YAML-safe plain data (tuples as lists)."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    init_default_scope("mmpretrain")
    counts = []
    for group in GROUPS:
        for fn in sorted(os.listdir(os.path.join(src, group))):
            if not fn.endswith(".py"):
                continue
            path = os.path.join(src, group, fn)
            cfg = Config.fromfile(path)
            data = plain(cfg.to_dict())
            name = os.path.splitext(fn)[0]
            with open(os.path.join(out, name + ".yaml"), "w") as f:
                f.write("# MMPretrain 1.2.0 configs/%s/%s, resolved by MMEngine 0.10.7's Config (bases merged)\n"
                        % (group, fn))
                yaml.safe_dump(data, f, sort_keys=False, default_flow_style=None, width=110)
            note = ""
            try:
                model = MODELS.build(cfg.model)
            except KeyError as e:
                # A batch augment the config names under an old name (BatchCutMix) is not registered in
                # MMPretrain 1.2; augments hold no parameters, so the count is the model's without them.
                model_cfg = cfg.model.copy()
                model_cfg.pop("train_cfg", None)
                model = MODELS.build(model_cfg)
                note = "  # built without model.train_cfg: %s" % str(e).split(" is not")[0].strip("'\"")
            n = sum(p.numel() for p in model.parameters() if p.requires_grad)
            if name in NAMES:
                os.makedirs(os.path.join(out, "names"), exist_ok=True)
                with open(os.path.join(out, "names", name + ".txt"), "w") as f:
                    for pn, p in model.named_parameters():
                        if p.requires_grad:
                            f.write("%s %s\n" % (pn, "x".join(str(d) for d in p.shape)))
            counts.append((name, n, note))
    with open(os.path.join(out, "params.txt"), "w") as f:
        f.write("# config  trainable parameters of MMPretrain 1.2.0's model (MODELS.build(cfg.model))\n")
        for name, n, note in counts:
            f.write("%s %d%s\n" % (name, n, note))


if __name__ == "__main__":
    main()
