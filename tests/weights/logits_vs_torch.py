"""tests/weights/logits_vs_torch.py - PyTorch weights into tgc and tgc's weights back into PyTorch, by eval logits.

1. A torchvision-style ResNet-50 state dict (torchvision's key names: conv1, bn1, layerN.M.*, downsample.0/1,
   fc; random weights and BN statistics, num_batches_tracked included), saved by torch.save, loaded by
   tgc as load_from does (the names mapped to MMPretrain's): tgc's eval logits equal PyTorch's.
2. The same file as the backbone's init_cfg (Pretrained, no prefix): fc.* reported as unexpected keys,
   the head as missing.
3. An MMPretrain-style ResNet-18 (CIFAR) checkpoint {meta, state_dict, optimizer} in f32, and the same in
   f16 (converted to f32 on load): logits equal PyTorch's on the same weights (f16-rounded for the second).
   The same checkpoint as init_cfg with prefix 'backbone' (MMEngine adds the dot) loads the backbone only.
4. The head with another class count: MMEngine's size-mismatch report.
5. The reverse: tgc's own state (its initialiser) saved as a tgc checkpoint, `tgc export`ed to .pth and
   .safetensors, loaded into the PyTorch model with load_state_dict(strict=True): PyTorch's logits equal
   tgc's.
Errors are max |a - b| / max |b| over the logits; the bound is 1e-4 (fp32 reductions in another order).
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "numerics"))
TOL = 1e-4


def rel(a, b):
    import numpy as np
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def randomize(model, torch, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() > 1:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1 + (1.0 if name.endswith(".weight") else 0.0))


class Ctx:
    def __init__(self, args):
        self.args = args
        self.failures = []

    def run(self, cmd):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("FAIL: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
        return r.stdout + r.stderr

    def check(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tgc", required=True)
    ap.add_argument("--harness", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    try:
        import numpy as np
        import torch
    except ImportError as e:
        if os.environ.get("CI") == "true":
            print("FAIL: %s (tools/setup.sh installs python3-torch)" % e)
            return 1
        print("skipped: python3-torch not available (%s)" % e)
        return 77
    import tgc_ckpt
    import torch_models

    torch.set_num_threads(1)
    os.makedirs(args.work, exist_ok=True)
    w = lambda f: os.path.join(args.work, f)  # noqa: E731
    c = Ctx(args)

    def tgc_logits(plan, batch, *load):
        out = w("out.ckpt")
        log = c.run([args.harness, plan, batch, out] + list(load))
        t, _, _ = tgc_ckpt.load(out)
        return t["eval.logits"], log

    def model_for(config, plan):
        cfg = torch_models.load_config(args.tgc, os.path.join(HERE, config), plan)
        return cfg, torch_models.build(cfg).eval()

    # ---- 1, 2: torchvision ResNet-50 ----
    plan50 = w("r50.bin")
    _, m50 = model_for("resnet50_in1k_small.yaml", plan50)
    randomize(m50, torch, 1)
    x50 = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    tgc_ckpt.save(w("batch50.ckpt"), {"inputs": x50.numpy()})
    with torch.no_grad():
        ref50 = m50(x50).numpy()
    tv = {}
    for k, v in m50.state_dict().items():
        k = k[len("backbone."):] if k.startswith("backbone.") else k.replace("head.fc.", "fc.")
        tv[k] = v.clone()
    assert "layer1.0.downsample.0.weight" in tv and "fc.weight" in tv and "bn1.num_batches_tracked" in tv
    torch.save(tv, w("resnet50_tv.pth"))
    got, log = tgc_logits(plan50, w("batch50.ckpt"), "--load", w("resnet50_tv.pth"))
    e = rel(got, ref50)
    print("torchvision ResNet-50 state dict -> tgc (load_from): logits max rel error %.3g" % e)
    c.check(e < TOL, "ResNet-50 logits within %g" % TOL)
    c.check("torchvision ResNet names mapped" in log and "do not match" not in log, "ResNet-50: names mapped, all keys matched")
    _, log = tgc_logits(plan50, w("batch50.ckpt"), "--load", w("resnet50_tv.pth"), "--scope", "backbone.")
    print("init_cfg Pretrained of the backbone with the torchvision file:\n" + log)
    c.check("unexpected key in source state_dict: fc.weight, fc.bias" in log and "missing keys" not in log,
            "backbone init_cfg: fc.* unexpected, nothing missing")

    # ---- 3: MMPretrain ResNet-18 checkpoint, f32 and f16 ----
    plan18 = w("r18.bin")
    cfg18, m18 = model_for("resnet18_cifar_small.yaml", plan18)
    randomize(m18, torch, 3)
    x18 = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    tgc_ckpt.save(w("batch18.ckpt"), {"inputs": x18.numpy()})
    with torch.no_grad():
        ref18 = m18(x18).numpy()
    sd = m18.state_dict()
    meta = {"epoch": 12, "iter": 4800, "cfg": "model = dict(type='ImageClassifier')", "mmengine_version": "0.10.7",
            "dataset_meta": {"classes": tuple("c%d" % i for i in range(10))}, "seed": np.int64(0)}
    torch.save({"meta": meta, "state_dict": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}},
               w("resnet18_mmpretrain.pth"))
    got, log = tgc_logits(plan18, w("batch18.ckpt"), "--load", w("resnet18_mmpretrain.pth"))
    e = rel(got, ref18)
    print("MMPretrain ResNet-18 checkpoint (f32) -> tgc: logits max rel error %.3g" % e)
    c.check(e < TOL and "do not match" not in log, "ResNet-18 f32 logits within %g, all keys matched" % TOL)
    c.check("top-level keys not read: optimizer" in log, "ResNet-18: optimizer named as not read")
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    torch.save({"meta": meta, "state_dict": half}, w("resnet18_f16.pth"))
    m18h = torch_models.build(cfg18).eval()
    m18h.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in half.items()})
    with torch.no_grad():
        ref18h = m18h(x18).numpy()
    got, log = tgc_logits(plan18, w("batch18.ckpt"), "--load", w("resnet18_f16.pth"))
    e = rel(got, ref18h)
    print("MMPretrain ResNet-18 checkpoint (f16) -> tgc: logits max rel error %.3g" % e)
    c.check(e < TOL, "ResNet-18 f16 logits within %g" % TOL)
    _, log = tgc_logits(plan18, w("batch18.ckpt"), "--load", w("resnet18_mmpretrain.pth"), "--scope", "backbone.",
                        "--prefix", "backbone")  # MMPretrain's configs write it without the dot
    c.check("do not match" not in log and "loaded 100 tensors" in log,
            "ResNet-18 init_cfg prefix backbone: the backbone's 100 tensors, nothing reported")

    # ---- 4: another class count ----
    plan20 = w("r18_20.bin")
    c.run([args.tgc, "compile", os.path.join(HERE, "resnet18_cifar_small.yaml"), "-o", plan20,
           "--cfg-options", "model.head.num_classes=20"])
    _, log = tgc_logits(plan20, w("batch18.ckpt"), "--load", w("resnet18_mmpretrain.pth"))
    print("a 20-class head loading the 10-class checkpoint:\n" + log)
    c.check("size mismatch for head.fc.weight: copying a param with shape torch.Size([10, 512]) from checkpoint, "
            "the shape in current model is torch.Size([20, 512])." in log and
            "size mismatch for head.fc.bias" in log, "20-class head: size mismatches reported")

    # ---- 5: tgc -> PyTorch ----
    own, _ = tgc_logits(plan18, w("batch18.ckpt"), "--save-ckpt", w("tgc_state.ckpt"))
    for fmt in ("pth", "safetensors"):
        out = w("exported." + fmt)
        c.run([args.tgc, "export", w("tgc_state.ckpt"), "-o", out, "--plan", plan18])
        if fmt == "pth":
            try:
                obj = torch.load(out, map_location="cpu", weights_only=True)
            except TypeError:
                obj = torch.load(out, map_location="cpu")
            state = obj["state_dict"]
            c.check("ResNet_CIFAR" in obj["meta"]["cfg"], "exported .pth carries the config in meta.cfg")
        else:
            import json
            import struct
            data = open(out, "rb").read()
            (n,) = struct.unpack("<Q", data[:8])
            header = json.loads(data[8:8 + n])
            header.pop("__metadata__")
            state = {}
            for k, e in header.items():
                b, end = e["data_offsets"]
                dt = {"F32": np.float32, "I64": np.int64}[e["dtype"]]
                state[k] = torch.from_numpy(np.frombuffer(data[8 + n + b:8 + n + end], dt).reshape(e["shape"]).copy())
        m = torch_models.build(cfg18).eval()
        m.load_state_dict(state, strict=True)
        with torch.no_grad():
            back = m(x18).numpy()
        e = rel(back, own)
        print("tgc checkpoint -> tgc export %s -> PyTorch load_state_dict(strict=True): logits max rel error %.3g" %
              (fmt, e))
        c.check(e < TOL, "exported %s logits within %g" % (fmt, TOL))

    if c.failures:
        print("FAILED: " + "; ".join(c.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
