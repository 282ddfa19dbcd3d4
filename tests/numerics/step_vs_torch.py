#!/usr/bin/env python3
"""tests/numerics/step_vs_torch.py - whole training steps of tgc compared with the same steps in PyTorch.

Compiles CONFIG, builds its PyTorch twin (torch_models.py), draws random weights, BN statistics and a
batch with torch, writes them as INIT.ckpt, runs tgc's step harness for --steps train steps and the eval
program, runs the same steps in PyTorch (float32, model.train(), torch.optim with the config's
settings), and compares per tensor with the norm-wise relative error max|a-b| / max(max|b|, tiny):
  loss of each step               <= 1e-5
  every gradient of step 1 (and later steps), every parameter, BN running statistic and optimizer
  state after each step, the eval logits after the last step   <= 1e-4
Each PyTorch step k > 1 starts from tgc's state after step k-1 (parameters, running statistics, optimizer
state): a free-running comparison diverges chaotically after one step wherever a ReLU input lies within
float rounding of 0 (the mask flips, and a whole gradient moves by percents; seen with the bottleneck
model), which says nothing about either implementation. --free-run compares the two trajectories instead.
Prints the worst tensor of each group. Exit 0: pass, 1: fail, 77: python3-torch is not available.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

LOSS_TOL, TENSOR_TOL, TINY = 1e-5, 1e-4, 1e-12


def rel_err(a, b):
    import numpy as np
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), TINY))


def randomize(model, torch):
    """Non-trivial BN affine parameters and running statistics (conv/linear keep torch's random init)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 1.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tgc", required=True)
    ap.add_argument("--harness", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--work", required=True, help="directory for the plan and checkpoints")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=None, help="default: the config's lr")
    ap.add_argument("--free-run", action="store_true", help="do not restart PyTorch from tgc's state each step")
    args = ap.parse_args()
    try:
        import numpy as np
        import torch
    except ImportError:
        print("skipped: python3-torch not available")
        return 77
    import tgc_ckpt
    import torch_models

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)
    plan = os.path.join(args.work, "plan.bin")
    init_path, out_path = os.path.join(args.work, "init.ckpt"), os.path.join(args.work, "out.ckpt")
    cfg = torch_models.load_config(args.tgc, args.config, plan)
    lr = args.lr if args.lr is not None else float(torch_models.num(cfg["optim_wrapper"]["optimizer"]["lr"]))

    model = torch_models.build(cfg)
    randomize(model, torch)
    batch = int(cfg["train_dataloader"]["batch_size"])
    # The image shape is the plan's: ask the harness's plan through `tgc inspect --json`.
    import json
    info = json.loads(subprocess.run([args.tgc, "inspect", plan, "--json"], check=True, capture_output=True,
                                     text=True).stdout)
    shape = next(i["shape"] for i in info["programs"]["train"]["inputs"] if i["name"] == "train/inputs")
    assert shape[0] == batch, (shape, batch)
    x = torch.randn(*shape)
    with torch.no_grad():
        n_classes = model(x[:1]).shape[1]
    y = torch.randint(0, n_classes, (batch,), dtype=torch.int32)

    state = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    params = dict(model.named_parameters())
    okeys = torch_models.optim_state_names(cfg)
    init = {k: v.numpy().astype(np.float32) for k, v in state.items()}
    for name, p in params.items():
        for key in okeys:
            init["optimizer.%s.%s" % (name, key)] = np.zeros(p.shape, np.float32)
    init["inputs"] = x.numpy()
    init["data_samples.gt_label"] = y.numpy()
    tgc_ckpt.save(init_path, init)

    r = subprocess.run([args.harness, plan, init_path, out_path, "--lr", repr(lr), "--steps", str(args.steps)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL: the step harness failed:\n" + r.stderr)
        return 1
    out, _, _ = tgc_ckpt.load(out_path)

    # The same steps in PyTorch.
    opt = torch_models.optimizer(cfg, model.parameters())
    for g in opt.param_groups:
        g["lr"] = lr
    model.train()
    ref = {}
    for s in range(1, args.steps + 1):
        if s > 1 and not args.free_run:
            # Restart from tgc's state after the previous step (see the module docstring).
            prev = {k: torch.from_numpy(out["step%d/%s" % (s - 1, k)].copy()) for k in state}
            missing, unexpected = model.load_state_dict(prev, strict=False)
            assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
            for name, p in params.items():
                st = opt.state[p]
                for key in okeys:
                    st[key].copy_(torch.from_numpy(out["step%d/optimizer.%s.%s" % (s - 1, name, key)]))
        opt.zero_grad(set_to_none=True)
        loss = model.loss(model(x), y)
        loss.backward()
        ref["step%d/loss" % s] = loss.item()
        for name, p in params.items():
            ref["step%d/%s.grad" % (s, name)] = p.grad.detach().clone().numpy()
        opt.step()
        for k, v in model.state_dict().items():
            if not k.endswith("num_batches_tracked"):
                ref["step%d/%s" % (s, k)] = v.detach().clone().numpy()
        for name, p in params.items():
            st = opt.state[p]
            for key in okeys:
                ref["step%d/optimizer.%s.%s" % (s, name, key)] = st[key].detach().clone().numpy()
    model.eval()
    with torch.no_grad():
        ref["eval.logits"] = model(x).numpy()

    # Every name on one side must be on the other (the twin's state dict is the plan's).
    tgc_names = {k for k in out if k.startswith("step") and not k.endswith("/loss")}
    ref_names = {k for k in ref if k.startswith("step") and not k.endswith("/loss")}
    if tgc_names != ref_names:
        print("FAIL: tensor names differ; only in tgc: %s; only in torch: %s" %
              (sorted(tgc_names - ref_names)[:8], sorted(ref_names - tgc_names)[:8]))
        return 1

    def group(k):
        step, _, name = k.partition("/")
        if name.endswith(".grad"):
            return "%s grads" % step
        if name.startswith("optimizer."):
            return "%s optimizer state" % step
        if name.endswith(("running_mean", "running_var")):
            return "%s running stats" % step
        return "%s params" % step

    rows = []  # (group, worst tensor, error, tolerance, count)
    for s in range(1, args.steps + 1):
        k = "step%d/loss" % s
        a, b = float(out[k]), ref[k]
        rows.append(("step%d loss" % s, "%.9g vs torch %.9g" % (a, b), abs(a - b) / max(abs(b), TINY), LOSS_TOL, 1))
    worst = {}
    for k in sorted(ref_names):
        e = rel_err(out[k], ref[k])
        g = group(k)
        n, wk, we = worst.get(g, (0, None, -1.0))
        worst[g] = (n + 1, k.partition("/")[2] if e > we else wk, max(e, we))
    order = sorted(worst, key=lambda g: (int(g.split()[0][4:]), g))
    for g in order:
        n, wk, we = worst[g]
        rows.append((g, wk, we, TENSOR_TOL, n))
    rows.append(("eval logits", "eval.logits", rel_err(out["eval.logits"], ref["eval.logits"]), TENSOR_TOL, 1))

    name = os.path.basename(args.config)
    print("tgc vs PyTorch %s: %s, %d steps%s, lr %g, batch %s" %
          (torch.__version__, name, args.steps, " (free-running)" if args.free_run else "", lr, shape))
    print("%-26s %6s  %-10s %-8s %s" % ("group", "count", "worst err", "tol", "worst tensor"))
    failed = 0
    for g, wk, we, tol, n in rows:
        bad = not (we <= tol)
        failed += bad
        print("%-26s %6d  %-10.3g %-8.0e %s%s" % (g, n, we, tol, wk, "   <-- FAIL" if bad else ""))
    if failed:
        # The per-tensor detail of the failing groups, worst first, to bisect by layer.
        print("\nfailing tensors:")
        errs = sorted(((rel_err(out[k], ref[k]), k) for k in ref_names), reverse=True)
        for e, k in errs[:20]:
            if e > TENSOR_TOL:
                print("  %-60s %.3g" % (k, e))
        print("FAIL: %d group(s) over tolerance" % failed)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
