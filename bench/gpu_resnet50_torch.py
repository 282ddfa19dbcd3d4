#!/usr/bin/env python3
"""bench/gpu_resnet50_torch.py - PyTorch's side of the ResNet-50 benchmark tools/gpu_check.sh runs: train steps of
ResNet-50 (the torchvision architecture, written out here so torchvision is not needed) at batch 256 on one GPU,
SGD momentum 0.9, weight decay 1e-4, cross-entropy, fp32 (TF32 off, as tgc's plans are fp32, unless
TGC_ALLOW_TF32=1), NCHW input in channels_last memory format. With --amp, mixed precision as MMEngine's
AmpOptimWrapper runs it on a GPU: torch.autocast float16 (or --amp-dtype bfloat16) and a dynamic GradScaler
(float16 only), what `tgc compile --target cuda --amp` is compared with.

    gpu_resnet50_torch.py eager|compile [--batch 256] [--iters 20] [--amp [--amp-dtype float16|bfloat16]]

Prints one line: "torch MODE: batch B, N steps in S s: X img/s, Y ms/step, peak memory Z MiB" (peak:
torch.cuda.max_memory_allocated). Exits 77 with "skipped: ..." without torch or a GPU."""
import argparse
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("skipped: torch is not importable")
    sys.exit(77)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + idt)


class ResNet50(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for b in range(blocks):
                layers.append(Bottleneck(cin, width, stride if b == 0 else 1))
                cin = width * 4
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["eager", "compile"])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--amp", action="store_true")
    ap.add_argument("--amp-dtype", choices=["float16", "bfloat16"], default="float16")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("skipped: no GPU")
        sys.exit(77)
    import os
    tf32 = os.environ.get("TGC_ALLOW_TF32") == "1"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    model = ResNet50().to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    lossf = nn.CrossEntropyLoss()
    x = torch.randn(a.batch, 3, 224, 224, device=dev).to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (a.batch,), device=dev)

    amp_dtype = getattr(torch, a.amp_dtype)
    use_scaler = a.amp and amp_dtype == torch.float16
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):  # torch 2.3 and later
        scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    else:
        scaler = torch.cuda.amp.GradScaler(enabled=use_scaler)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=amp_dtype, enabled=a.amp):
            loss = lossf(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    fn = torch.compile(step) if a.mode == "compile" else step
    for _ in range(5):
        fn(x, y)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.iters):
        fn(x, y)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20
    how = ", autocast %s%s" % (a.amp_dtype, " + GradScaler" if scaler.is_enabled() else "") if a.amp else ""
    print("torch %s%s (%s): batch %d, %d steps in %.3f s: %.1f img/s, %.1f ms/step, peak memory %.0f MiB" %
          (a.mode, how, torch.cuda.get_device_name(), a.batch, a.iters, dt, a.batch * a.iters / dt, 1000 * dt / a.iters,
           peak))


if __name__ == "__main__":
    main()
