#!/usr/bin/env python3
"""tests/numerics/step_vs_torch.py - whole training steps of tgc compared with the same steps in PyTorch.

Compiles CONFIG, builds its PyTorch twin (torch_models.py: the model, the loss with its loss_weight and
label smoothing, torch.optim with MMEngine's paramwise_cfg param groups), draws random weights, BN
statistics and a batch with torch, writes them as INIT.ckpt, runs tgc's step harness for --steps train
steps (default 4: the momentum buffer, its dampening and AdamW's moments are then non-zero and part of
the update being compared) and the eval program, runs the same steps in PyTorch (float32, model.train())
and compares per tensor, with errors relative to the tensor's own scale, err = max|a-b| / max|b|:

  kind              tol     what                                                  worst seen, correct code
  loss              1e-6    |a-b|/|b| of each step's loss                         1.1e-7 (2.2e-7 over seeds 0-8)
  grads             1e-4    every gradient of every step                          4.7e-6 (2.4e-5 over seeds 0-8)
  updates           3e-6    every parameter's update du = after - before of each  SGD 9.7e-8, AdamW 2.7e-7
                            step, tgc's and PyTorch's from the same state:
                            max(|du_tgc - du_torch| - 1 float32 ulp of the
                            parameter) / max|du_torch|, elementwise
  params            2e-6    every parameter after each step                       SGD 1.2e-7, AdamW 1.1e-7
  optimizer state   2e-6    momentum buffers, exp_avg, exp_avg_sq after each step SGD 1.2e-7, AdamW 1.2e-7
  running stats     2e-6    BN running mean and variance after each step          1.6e-7
  eval logits       5e-6    the eval program on the batch after the last step     4.9e-7

"worst seen" is over the configs of tests/numerics at seed 0 (torch 1.13, 1 thread), each tolerance about
10x over it. (AdamW's were 1e-5 until tgc computed 1 - beta2 in double as PyTorch does: in float,
1 - 0.999f = 0.00099998713, 1.3e-5 off 0.001.)
Every run prints its table and the worst per kind (--report: every tensor).

The update check is what sees an optimizer's small terms: a parameter moves by about lr*grad, far below
its own scale, so a wrong lr_mult, decay_mult, weight decay, dampening or Nesterov term changes the update
by percents but the parameter by 1e-5. PyTorch's optimizer steps on tgc's gradients (loaded into
p.grad): the update then measures the optimizer alone, free of the gradients' rounding, which AdamW's
m/sqrt(v) amplifies wherever a gradient element is near 0; the gradients have their own check, which
fails on a 10% error anywhere a gradient is above 1e-3 of its tensor's largest element (a wrong
loss_weight or label smoothing moves every logit gradient by that much). A momentum buffer or AdamW
moment that is all zeros on either side (the comparison would be vacuous) and a parameter with lr > 0
whose update is zero fail too.

Each PyTorch step k > 1 starts from tgc's state after step k-1 (parameters, running statistics, optimizer
state): a free-running comparison diverges after one step, which says nothing about either
implementation. Within a step, a ReLU input within float rounding of 0 can fall on the other side in tgc
(the mask flips, and a gradient moves by up to 20%: seen at |z| 0..2e-7 of its tensor's largest, in
10 of 56 runs of these configs over seeds 1-8). When the gradients are over tolerance, the reference
therefore tries the other side for the MAX_FLIPS ReLU inputs nearest 0 (those within KINK_REL of their
tensor's scale) in every combination, keeps the one closest to tgc's gradients, and says which it
flipped; a real error in a loss or a backward rule is not the effect of flipping a few elements at 0.
--free-run compares the two trajectories instead.
Prints the worst tensor of each group. Exit 0: pass, 1: fail, 77: python3-torch is not available (a failure under CI=true).
"""
import argparse
import itertools
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TOLS = {"loss": 1e-6, "grads": 1e-4, "updates": 3e-6, "params": 2e-6, "optimizer state": 2e-6,
        "running stats": 2e-6, "eval logits": 5e-6}  # see the module docstring
UPDATE_ULPS = 1.0  # float32 ulps of the parameter forgiven per element of an update
TINY = 1e-30
KINK_REL, MAX_FLIPS = 1e-5, 4  # ReLU inputs this near 0 (relative to their tensor) may flip; how many at most


def rel_err(a, b):
    """max|a-b| / max|b| (inf on a shape mismatch)."""
    import numpy as np
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), TINY))


def update_err(du_a, du_b, after_b):
    """max(|du_a - du_b| - UPDATE_ULPS ulp(after_b), 0) / max|du_b|, elementwise then the max."""
    import numpy as np
    if du_a.shape != du_b.shape:
        return float("inf")
    if du_a.size == 0:
        return 0.0
    slack = UPDATE_ULPS * np.spacing(np.abs(after_b).astype(np.float32)).astype(np.float64)
    d = np.maximum(np.abs(du_a - du_b) - slack, 0.0)
    return float(np.max(d) / max(float(np.max(np.abs(du_b))), TINY))


def grad_err(tgc_grads, grads):
    return max(rel_err(tgc_grads[k], grads[k]) for k in grads)


def kink_candidates(zs, np):
    """[(|z| / max|z|, relu call number, flat index)] of the ReLU inputs within KINK_REL of 0 relative
    to their tensor's scale, the MAX_FLIPS nearest."""
    out = []
    for i, z in enumerate(zs):
        a = np.abs(z.numpy().reshape(-1)).astype(np.float64)
        scale = float(a.max()) if a.size else 0.0
        if scale <= 0:
            continue
        for j in np.nonzero(a < KINK_REL * scale)[0]:
            out.append((float(a[j]) / scale, i, int(j)))
    return sorted(out)[:MAX_FLIPS]


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
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=None, help="default: the config's lr")
    ap.add_argument("--free-run", action="store_true", help="do not restart PyTorch from tgc's state each step")
    ap.add_argument("--report", action="store_true", help="print every tensor's error")
    args = ap.parse_args()
    try:
        import numpy as np
        import torch
    except ImportError as e:
        if os.environ.get("CI") == "true":
            print("FAIL: %s: tools/setup.sh installs python3-torch and python3-numpy; under CI=true their "
                  "absence is a failure, not a skip" % e)
            return 1
        print("skipped: python3-torch not available (%s)" % e)
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
    if (cfg["model"].get("train_cfg") or {}).get("augments"):
        # Batch augments: the plan trains on soft targets. A Mixup-like target (lam 0.7 of each sample's
        # label, 0.3 of a partner's) stands for what the runtime's augment produces; the loss is the point.
        partner = torch.roll(y.long(), 1)
        one_hot = torch.nn.functional.one_hot
        y = 0.7 * one_hot(y.long(), n_classes).float() + 0.3 * one_hot(partner, n_classes).float()
        init["data_samples.gt_score"] = y.numpy().astype(np.float32)
    else:
        init["data_samples.gt_label"] = y.numpy()
    tgc_ckpt.save(init_path, init)

    r = subprocess.run([args.harness, plan, init_path, out_path, "--lr", repr(lr), "--steps", str(args.steps)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL: the step harness failed:\n" + r.stderr)
        return 1
    out, _, _ = tgc_ckpt.load(out_path)

    # The same steps in PyTorch; --lr replaces the config's lr, each group keeping its lr_mult.
    opt = torch_models.optimizer(cfg, model)
    group_lr = {}
    for g in opt.param_groups:
        g["lr"] = lr * g.get("lr_mult", 1.0)
        for p in g["params"]:
            group_lr[id(p)] = g["lr"]
    model.train()
    buffers = dict(model.named_buffers())

    # optim_wrapper.accumulative_counts: each step's loss factor and whether it updates (MMEngine's rules)
    accum = torch_models.accumulation(cfg, args.steps)
    carried = {}  # accumulated gradients entering the step (tgc's, after the previous step of its group)

    def forward_backward(record=None, flips=None, factor=1):
        """p.grad as MMEngine's OptimWrapper has it after its backward: the carried sum plus the gradient of
        loss / factor (clip_grad comes in its step, below)."""
        torch_models.KINKS.reset(record, flips)
        opt.zero_grad(set_to_none=True)
        for name, p in params.items():
            if name in carried:
                p.grad = torch.from_numpy(carried[name].copy())
        loss = model.loss(model(x), y)
        (loss / factor if factor != 1 else loss).backward()
        torch_models.KINKS.reset()
        return loss.item(), {name: p.grad.detach().clone().numpy() for name, p in params.items()}

    def set_buffers(values):
        with torch.no_grad():
            for k, b in buffers.items():
                b.copy_(values[k])

    ref, flip_notes, updated = {}, [], set()
    before_tgc = {name: init[name].astype(np.float64) for name in params}
    for s in range(1, args.steps + 1):
        if s > 1 and not args.free_run:
            # Restart from tgc's state after the previous step (see the module docstring).
            prev = {k: torch.from_numpy(out["step%d/%s" % (s - 1, k)].copy()) for k in state}
            missing, unexpected = model.load_state_dict(prev, strict=False)
            assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
            for name, p in params.items():
                st = opt.state[p]
                for key in okeys:
                    if key in st:  # torch creates its state at the first update
                        st[key].copy_(torch.from_numpy(out["step%d/optimizer.%s.%s" % (s - 1, name, key)]))
        tgc_grads = {name: out["step%d/%s.grad" % (s, name)] for name in params}
        before = {name: p.detach().numpy().astype(np.float64) for name, p in params.items()}
        saved = {k: b.clone() for k, b in buffers.items()}
        factor, update = accum[s - 1]
        carried = {} if s == 1 or accum[s - 2][1] else {n: out["step%d/%s.grad" % (s - 1, n)] for n in params}
        zs = []
        loss, grads = forward_backward(record=zs, factor=factor)
        # ReLU inputs within float rounding of 0 (see the module docstring): the reference takes the
        # combination of their sides that is closest to tgc's gradients.
        cands = kink_candidates(zs, np) if grad_err(tgc_grads, grads) > TOLS["grads"] else []
        if cands:
            after_fwd = {k: b.clone() for k, b in buffers.items()}
            best, best_combo = grad_err(tgc_grads, grads), ()
            for r in range(1, len(cands) + 1):
                for combo in itertools.combinations(range(len(cands)), r):
                    flips = {}
                    for c in combo:
                        flips.setdefault(cands[c][1], []).append(cands[c][2])
                    set_buffers(saved)
                    _, g = forward_backward(flips=flips, factor=factor)
                    e = grad_err(tgc_grads, g)
                    if e < best:
                        best, best_combo, grads = e, combo, g
            set_buffers(after_fwd)
            flip_notes.append("step%d: %d ReLU input(s) within %.0e of 0 (relative to their tensor: %s); "
                              "flipped to match tgc: %s" %
                              (s, len(cands), KINK_REL, ", ".join("%.2g" % c[0] for c in cands),
                               ", ".join("relu#%d[%d]" % cands[c][1:] for c in best_combo) or "none"))
        ref["step%d/loss" % s] = loss
        for name in params:
            ref["step%d/%s.grad" % (s, name)] = grads[name]
        # The optimizer step on tgc's gradients: the update check then sees the optimizer alone (the
        # gradients have their own check), free of the gradients' rounding, which AdamW's g/sqrt(v)
        # amplifies wherever a gradient element is near 0.
        for name, p in params.items():
            p.grad = torch.from_numpy(tgc_grads[name].copy())
        if update:  # MMEngine's OptimWrapper.step: clip_grad, then the optimizer
            torch_models.clip_grads(cfg, params.values())
            opt.step()
            updated.add(s)
        for k, v in model.state_dict().items():
            if not k.endswith("num_batches_tracked"):
                ref["step%d/%s" % (s, k)] = v.detach().clone().numpy()
        for name, p in params.items():
            st = opt.state[p]
            for key in okeys:
                ref["step%d/optimizer.%s.%s" % (s, name, key)] = (st[key].detach().clone().numpy() if key in st
                                                                  else np.zeros(p.shape, np.float32))
            # The updates: PyTorch's from its starting state, tgc's from its own (the same one unless
            # --free-run), both exact in float64.
            after = ref["step%d/%s" % (s, name)]
            ref["step%d/%s.update" % (s, name)] = after.astype(np.float64) - before[name]
            t_after = out["step%d/%s" % (s, name)].astype(np.float64)
            out["step%d/%s.update" % (s, name)] = t_after - before_tgc[name]
            before_tgc[name] = t_after
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
        name = k.partition("/")[2]
        if name.endswith(".grad"):
            return "grads"
        if name.endswith(".update"):
            return "updates"
        if name.startswith("optimizer."):
            return "optimizer state"
        if name.endswith(("running_mean", "running_var")):
            return "running stats"
        return "params"

    def err_of(k):
        if k.endswith(".update"):
            return update_err(out[k], ref[k], ref[k[:-len(".update")]])
        return rel_err(out[k], ref[k])

    errs = {k: err_of(k) for k in ref_names}
    errs["eval.logits"] = rel_err(out["eval.logits"], ref["eval.logits"])

    # Vacuous comparisons are failures: optimizer state that stays zero, a parameter that does not move.
    vacuous = []
    for k in sorted(ref_names):
        g = group(k)
        step_no = int(k.partition("/")[0][4:])
        if step_no not in updated and (g == "updates" or not any(u <= step_no for u in updated)):
            continue  # accumulation: no update yet (state zero) or at this step (nothing moves)
        if g == "optimizer state" and not (np.any(ref[k] != 0) and np.any(out[k] != 0)):
            vacuous.append("%s is all zeros (%s)" % (k, "torch" if not np.any(ref[k] != 0) else "tgc"))
        elif g == "updates" and group_lr[id(params[k.partition("/")[2][:-len(".update")]])] > 0 \
                and not np.any(ref[k] != 0):
            vacuous.append("%s: the parameter does not move in torch" % k)

    rows = []  # (group, worst tensor, error, tolerance, count)
    for s in range(1, args.steps + 1):
        k = "step%d/loss" % s
        a, b = float(out[k]), ref[k]
        rows.append(("step%d loss" % s, "%.9g vs torch %.9g" % (a, b), abs(a - b) / max(abs(b), TINY), TOLS["loss"], 1))
    worst = {}
    for k in sorted(ref_names):
        step, _, name = k.partition("/")
        g = "%s %s" % (step, group(k))
        n, wk, we = worst.get(g, (0, None, -1.0))
        worst[g] = (n + 1, name if errs[k] > we else wk, max(errs[k], we))
    order = sorted(worst, key=lambda g: (int(g.split()[0][4:]), g))
    for g in order:
        n, wk, we = worst[g]
        rows.append((g, wk, we, TOLS[g.partition(" ")[2]], n))
    rows.append(("eval logits", "eval.logits", errs["eval.logits"], TOLS["eval logits"], 1))

    name = os.path.basename(args.config)
    print("tgc vs PyTorch %s: %s, %d steps%s, lr %g, batch %s" %
          (torch.__version__, name, args.steps, " (free-running)" if args.free_run else "", lr, shape))
    print("%-26s %6s  %-10s %-8s %-8s %s" % ("group", "count", "worst err", "tol", "margin", "worst tensor"))
    failed = 0
    for g, wk, we, tol, n in rows:
        bad = not (we <= tol)
        failed += bad
        print("%-26s %6d  %-10.3g %-8.0e %-8s %s%s" % (g, n, we, tol, "%.3g" % (tol / we) if we > 0 else "inf", wk,
                                                      "   <-- FAIL" if bad else ""))
    # The worst of each kind over all steps, the figure the tolerances were chosen from.
    summary = {}
    for k, e in errs.items():
        g = "eval logits" if k == "eval.logits" else group(k)
        summary[g] = max(summary.get(g, 0.0), e)
    summary["loss"] = max(r[2] for r in rows if r[0].endswith(" loss"))
    print("worst per kind: " + ", ".join("%s %.3g (tol %.0e)" % (g, summary[g], TOLS[g]) for g in TOLS if g in summary))
    for n in flip_notes:
        print(n)
    if args.report:
        print("\nevery tensor:")
        for k in sorted(errs, key=lambda k: -errs[k]):
            print("  %-60s %.3g" % (k, errs[k]))
    if vacuous:
        print("\nvacuous comparisons:\n  " + "\n  ".join(vacuous[:20]))
        failed += 1
    if failed:
        # The per-tensor detail of the failing groups, worst first, to bisect by layer.
        print("\nfailing tensors:")
        bad = sorted(((e, k) for k, e in errs.items()
                      if e > TOLS["eval logits" if k == "eval.logits" else group(k)]), reverse=True)
        for e, k in bad[:20]:
            print("  %-60s %.3g" % (k, e))
        print("FAIL: %d group(s) over tolerance" % failed)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
