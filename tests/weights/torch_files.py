"""tests/weights/torch_files.py - weight files made and read by PyTorch for tgc's readers and writers.

  make DIR            writes the fixtures below into DIR (status 77 without torch)
  check-pth FILE      torch.load(FILE) (weights_only where this torch has it) and prints every tensor as
                      "name dtype shape sum" plus meta.cfg
  check-st FILE       reads a safetensors file with the format's own rules (numpy) and prints the same

Values are deterministic (a function of the element index) so the C side can check them exactly:
element i of tensor k is (i % 7 - 3) * 0.25 + k.
"""
import collections
import json
import os
import struct
import sys


def values(torch, k, shape, dtype):
    n = 1
    for d in shape:
        n *= d
    x = (torch.arange(n, dtype=torch.float64) % 7 - 3) * 0.25 + k
    return x.reshape(shape).to(dtype)


class Hub:  # stands in for MMEngine's MessageHub: an object the reader must not build
    def __init__(self):
        self.log = {"loss": [1.0, 2.0]}


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def make(out):
    import torch
    import numpy as np

    sd = collections.OrderedDict()
    sd["a.f32"] = values(torch, 0, (2, 3), torch.float32)
    sd["b.f16"] = values(torch, 1, (4,), torch.float16)
    sd["c.bf16"] = values(torch, 2, (3, 2), torch.bfloat16)
    sd["d.i64"] = torch.tensor(7, dtype=torch.int64)
    sd["e.t"] = values(torch, 4, (3, 2), torch.float32).t()  # not contiguous: stride (1, 2)
    big = values(torch, 5, (4, 4), torch.float32)
    sd["f.view"] = big[1:3]  # a view with a storage offset, sharing big's storage
    sd["g.f64"] = values(torch, 6, (2,), torch.float64)
    torch.save(sd, os.path.join(out, "plain.pth"))
    mm = {"meta": {"cfg": "model = dict(type='ImageClassifier')", "epoch": 3, "seed": np.int64(5),
                   "classes": ("a", "b")},
          "state_dict": sd, "message_hub": Hub(), "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}
    torch.save(mm, os.path.join(out, "mmengine.pth"))
    torch.save({"state_dict": {"x": Evil()}}, os.path.join(out, "evil.pth"))
    torch.save({"state_dict": {"x": 3}}, os.path.join(out, "notensor.pth"))
    torch.save({"p": torch.nn.Parameter(values(torch, 0, (2, 3), torch.float32))}, os.path.join(out, "param.pth"))
    torch.save(sd, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
    # safetensors by hand: the format is a u64 header length, the JSON header, the data
    header, blob = {"__metadata__": {"format": "pt", "config": "a config"}}, b""
    for k, (name, t) in enumerate([("a.f32", sd["a.f32"]), ("b.f16", sd["b.f16"]), ("c.bf16", sd["c.bf16"])]):
        raw = t.contiguous().view(torch.uint8 if t.dtype != torch.bfloat16 else torch.uint8)
        data = bytes(raw.numpy().tobytes()) if t.dtype != torch.bfloat16 else bytes(
            t.view(torch.int16).numpy().tobytes())
        header[name] = {"dtype": {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[t.dtype],
                        "shape": list(t.shape), "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(out, "w.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + blob)


def show(name, t):
    import torch
    print(f"{name} {str(t.dtype).replace('torch.', '')} {list(t.shape)} {float(t.double().sum()):.6f}")


def check_pth(path):
    import torch
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch before 1.13 has no weights_only
        obj = torch.load(path, map_location="cpu")
    sd = obj["state_dict"] if "state_dict" in obj else obj
    for k, v in sd.items():
        show(k, v)
    print("cfg", repr(obj.get("meta", {}).get("cfg")))


def check_st(path):
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    blob = data[8 + n:]
    meta = header.pop("__metadata__", {})
    for k, e in header.items():
        b, end = e["data_offsets"]
        dt = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}[e["dtype"]]
        a = np.frombuffer(blob[b:end], dtype=dt).reshape(e["shape"])
        print(f"{k} {e['dtype']} {list(a.shape)} {float(a.astype(np.float64).sum()):.6f}")
    print("cfg", repr(meta.get("config")))


def main():
    cmd, arg = sys.argv[1], sys.argv[2]
    try:
        import torch  # noqa: F401
    except ImportError:
        print("skipped: Debian's python3-torch is not installed")
        sys.exit(77)
    {"make": make, "check-pth": check_pth, "check-st": check_st}[cmd](arg)


if __name__ == "__main__":
    main()
