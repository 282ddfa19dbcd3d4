#!/usr/bin/env python3
"""tests/numerics/amp_vs_torch.py - a whole mixed-precision (bf16) train step of tgc against PyTorch's CPU
autocast, torch.autocast('cpu', dtype=torch.bfloat16), on the same weights and batch.

Compiles CONFIG (an AmpOptimWrapper bfloat16 config), draws weights, BN statistics and a batch with torch,
runs tgc's step harness for one train step and the eval program, and the same step in PyTorch with the
forward under autocast and the loss in f32 (model.loss(scores.float(), y)), as MMEngine's AmpOptimWrapper
runs it. Errors are relative to each tensor's own scale, max|a-b| / max|b|, as in step_vs_torch.py.

Why these tolerances. bf16 keeps 8 significant bits: one rounding is off by at most u = 2^-8 = 3.9e-3
relative to the value. Both sides round the same conv/linear operands (the f32 inputs and weights, cast
once, round to nearest even, so those agree bit for bit), but they accumulate in f32 in different orders
(oneDNN's blocked kernels against PyTorch's) and round conv outputs, BN outputs and dy to bf16 at every
layer: an element near the midpoint of two bf16 numbers rounds differently, a 1-ulp difference the next
layers carry. Batch norm's backward then subtracts means of dy and of x_hat*dy from dy, so where those
nearly cancel (BN biases and weights, and convs right before a BN) a few ulps of every element become
tens of percent of the result: PyTorch's own autocast step differs from its fp32 step by 0.1-0.45 of a
tensor's largest element on these gradients (printed, column "autocast vs fp32"). A fixed tolerance
would either fail on that noise or miss real errors, so the gradients are held to PyTorch's own bf16
noise, per tensor:
    err(tgc, autocast) <= 2 * err(autocast, fp32) + 2u
and on average over the tensors, mean err(tgc, autocast) <= mean err(autocast, fp32): tgc's AMP step is
no farther from PyTorch's than PyTorch's AMP step is from fp32. The head's gradients, past any batch
norm, have little noise (1e-2), so a wrong scale or rule there fails the per-tensor bound.
  loss            8e-3   2u: a mean of cross-entropies of logits a few ulps apart (seen 1.6e-4)
  running stats   8e-3   2u: statistics of bf16 conv outputs, accumulated in f32 (seen 1.3e-4)
  eval logits     3e-2   tgc rounds the BN-folded weights to bf16, PyTorch runs BN after a bf16 conv:
                         different roundings of the same function, through the whole net (seen 5.4e-3)
(seen: seed 0, torch 1.13, 1 thread.)

Updates are checked as in step_vs_torch.py and to the same float32 tolerance (3e-6): PyTorch's SGD steps
on tgc's gradients from the same state, so this checks that the master weights and the optimizer stay in
f32 (a bf16 master weight would be off by 2^-8 of the weight, three orders over).
Exit 0: pass, 1: fail, 77: torch missing (a failure under CI=true).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TOLS = {"loss": 8e-3, "running stats": 8e-3, "eval logits": 3e-2, "updates": 3e-6}
U = 2.0 ** -8  # bf16's unit roundoff
GRAD_NOISE_FACTOR = 2.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tgc", required=True)
    ap.add_argument("--harness", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        import numpy as np
        import torch
    except ImportError as e:
        if os.environ.get("CI") == "true":
            print("FAIL: %s: tools/setup.sh installs python3-torch and python3-numpy" % e)
            return 1
        print("skipped: python3-torch not available (%s)" % e)
        return 77
    import step_vs_torch as svt
    import tgc_ckpt
    import torch_models

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)
    plan = os.path.join(args.work, "plan.bin")
    init_path, out_path = os.path.join(args.work, "init.ckpt"), os.path.join(args.work, "out.ckpt")
    cfg = torch_models.load_config(args.tgc, args.config, plan)
    info = json.loads(subprocess.run([args.tgc, "inspect", plan, "--json"], check=True, capture_output=True,
                                     text=True).stdout)
    if info["memory"].get("precision") != "bfloat16":
        print("FAIL: %s did not compile to a bfloat16 plan" % args.config)
        return 1
    lr = float(torch_models.num(cfg["optim_wrapper"]["optimizer"]["lr"]))
    model = torch_models.build(cfg)
    svt.randomize(model, torch)
    shape = next(i["shape"] for i in info["programs"]["train"]["inputs"] if i["name"] == "train/inputs")
    x = torch.randn(*shape)
    with torch.no_grad():
        n_classes = model(x[:1]).shape[1]
    y = torch.randint(0, n_classes, (shape[0],), dtype=torch.int32)

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
    r = subprocess.run([args.harness, plan, init_path, out_path, "--lr", repr(lr), "--steps", "1"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL: the step harness failed:\n" + r.stderr)
        return 1
    out, _, _ = tgc_ckpt.load(out_path)

    def step(amp):
        model.load_state_dict(state, strict=False)
        model.train()
        for p in params.values():
            p.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            scores = model(x)
        loss = model.loss(scores.float(), y)
        loss.backward()
        grads = {n: p.grad.detach().clone().numpy() for n, p in params.items()}
        stats = {k: v.detach().clone().numpy() for k, v in model.state_dict().items()
                 if k.endswith(("running_mean", "running_var"))}
        return loss.item(), grads, stats

    loss_ac, grads_ac, stats_ac = step(True)
    loss_32, grads_32, _ = step(False)
    loss_err = abs(loss_ac - float(out["step1/loss"])) / abs(loss_ac)
    stat_err = max((svt.rel_err(out["step1/%s" % k], v), k) for k, v in stats_ac.items())
    dtypes = {str(out["step1/%s.grad" % n].dtype) for n in grads_ac}
    gerr = {n: svt.rel_err(out["step1/%s.grad" % n], g) for n, g in grads_ac.items()}
    noise = {n: svt.rel_err(grads_ac[n], grads_32[n]) for n in grads_ac}
    ratio = max((gerr[n] / (GRAD_NOISE_FACTOR * noise[n] + 2 * U), n) for n in gerr)
    mean_err, mean_noise = float(np.mean(list(gerr.values()))), float(np.mean(list(noise.values())))
    # The update: PyTorch's SGD on tgc's gradients from the same state (f32 master weights and optimizer).
    model.load_state_dict(state, strict=False)
    opt = torch_models.optimizer(cfg, model)
    for g in opt.param_groups:
        g["lr"] = lr * g.get("lr_mult", 1.0)
    before = {n: p.detach().numpy().astype(np.float64) for n, p in params.items()}
    for n, p in params.items():
        p.grad = torch.from_numpy(out["step1/%s.grad" % n].copy())
    opt.step()
    upd = max((svt.update_err(out["step1/%s" % n].astype(np.float64) - before[n],
                              p.detach().numpy().astype(np.float64) - before[n], p.detach().numpy()), n)
              for n, p in params.items())
    # Eval on the batch after the step (tgc's state), autocast as MMEngine's val loop under AMP.
    model.load_state_dict({k: torch.from_numpy(out["step1/%s" % k].copy()) for k in state}, strict=False)
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x).float().numpy()
    ev = svt.rel_err(out["eval.logits"], logits)

    print("tgc bf16 AMP step vs torch %s autocast(cpu, bfloat16), seed %d:" % (torch.__version__, args.seed))
    fail = False

    def row(kind, e, tol, where=""):
        nonlocal fail
        ok = e <= tol
        fail |= not ok
        print("  %-34s %10.3g  (limit %.3g) %s%s" % (kind, e, tol, where, "" if ok else "   <-- FAIL"))

    row("loss", loss_err, TOLS["loss"])
    n_worst = ratio[1]
    print("  %-34s %10.3g  (autocast vs fp32 %.3g) %s" % ("grads: worst tensor", gerr[n_worst], noise[n_worst], n_worst))
    row("grads: err / (2 noise + 2u), worst", ratio[0], 1.0, n_worst)
    row("grads: mean err over tensors", mean_err, mean_noise, "(limit: mean autocast vs fp32)")
    row("running stats", stat_err[0], TOLS["running stats"], stat_err[1])
    row("updates (f32 master weights)", upd[0], TOLS["updates"], upd[1])
    row("eval logits", ev, TOLS["eval logits"])
    if dtypes != {"float32"}:
        print("FAIL: parameter gradients are %s, expected float32" % sorted(dtypes))
        fail = True
    print("FAIL" if fail else "PASS")
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())
