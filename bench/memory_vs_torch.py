#!/usr/bin/env python3
"""bench/memory_vs_torch.py - tgc's planned training memory against PyTorch's measured peak, per config.

For each config: compiles it and reads `tgc inspect --json` (the arena, its lower bound, the naive sum of
every temporary, and the slabs: inputs, params, buffers, gradients, optimizer state), then measures one
steady-state CPU training step of the same model in PyTorch (tests/numerics/torch_models.py; same batch,
float32, same optimizer) in a fresh subprocess, two ways:

  allocator  PyTorch's CPU allocator as its legacy profiler reports it (profile_memory=True: every
             allocation and free made while profiling, with a timestamp): the live bytes at the start of
             step 2 (params, buffers, optimizer state, the batch; counted from the tensors) plus the
             maximum of the running sum of allocations minus frees during the step.
  RSS        the process's peak resident set (ru_maxrss) over steps 1 and 2 minus its resident set
             after `import torch` (before the model exists).

And tgc's own peak RSS the same way (unless --no-tgc-rss): `tgc bench PLAN --iters 1 --warmup 0` minus
`tgc --version`. See bench/README.md ("Memory against PyTorch") for the caveats.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "numerics"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

DEFAULT_CONFIGS = ["configs/resnet/resnet50_8xb32_in1k.yaml", "configs/resnet/resnet18_8xb32_in1k.yaml",
                   "configs/resnet/resnet18_8xb16_cifar10.yaml", "configs/fashion/resnet_small_fashionmnist.yaml",
                   "configs/fashion/lenet5_fashionmnist.yaml"]
MIB = 1048576.0


def proc_status(key):
    """VmRSS (resident now) or VmHWM (peak resident) of this process, in bytes. VmHWM belongs to the address
    space, which exec replaces: unlike ru_maxrss it does not inherit the forking parent's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no %s in /proc/self/status" % key)


# ---- the PyTorch side, run in a fresh process (--child) -----------------------------------------------

def torch_child(cfg_path, shape, threads):
    import torch
    base_rss = proc_status("VmRSS")
    import torch_models
    from torch.autograd import profiler_legacy
    model, opt, x, y = torch_models.synthetic_setup(json.load(open(cfg_path)), shape, threads)

    def step():
        loss = model.loss(model(x), y)
        loss.backward()
        opt.step()
        return float(loss)

    # Step 1 creates the optimizer state and oneDNN's primitives; step 2 is the steady state measured.
    opt.zero_grad(set_to_none=True)
    step()
    opt.zero_grad(set_to_none=True)  # outside the window: the old gradients are gone before it opens
    seen, state = set(), 0
    tensors = list(model.parameters()) + list(model.buffers()) + [x, y]
    tensors += [v for s in opt.state.values() for v in s.values() if torch.is_tensor(v)]
    for t in tensors:
        st = t.storage()
        if st.data_ptr() not in seen:
            seen.add(st.data_ptr())
            state += st.nbytes()
    prof = profiler_legacy.profile(profile_memory=True)
    torch.autograd._enable_profiler_legacy(prof.config())
    step()
    records = torch.autograd._disable_profiler_legacy()
    allocs = []
    start = None
    for thread in records:
        for r in thread:
            if r.kind() == "mark" and r.name() == "__start_profile" and start is None:
                start = r
    for thread in records:
        for r in thread:
            if r.kind() == "memory_alloc":
                allocs.append((start.cpu_elapsed_us(r), r.cpu_memory_usage()))
    allocs.sort(key=lambda a: a[0])  # ties: the order recorded (sort is stable)
    cur = peak = 0
    for _, b in allocs:
        cur += b
        peak = max(peak, cur)
    maxrss = proc_status("VmHWM")
    print(json.dumps({"state_bytes": state, "step_peak_bytes": peak, "step_net_bytes": cur,
                      "allocator_total_bytes": state + peak, "rss_growth_bytes": maxrss - base_rss,
                      "n_allocs": sum(1 for _, b in allocs if b > 0), "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))
    return 0


# ---- the driver --------------------------------------------------------------------------------------

def find_tgc():
    from train_step_vs_torch import find_default
    return find_default("tgc")


def rss_launch(cmd):
    """--rss-of: runs cmd and prints its peak RSS in bytes (wait4's ru_maxrss of that child alone). This runs
    in a fresh, small interpreter because a child's ru_maxrss starts from the size of the process it was
    forked from: forked from this script after `import torch`, it would report torch's size."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    if rc:
        sys.stderr.buffer.write(err[-500:])
        return 1
    print(ru.ru_maxrss * 1024)
    return 0


def run_rss(cmd, env):
    """The peak RSS in bytes of running cmd (through --rss-of)."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--rss-of"] + cmd, capture_output=True,
                         text=True, env=env)
    if out.returncode:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), out.stderr.strip()))
    return int(out.stdout)


def measure(args, config, tmp, env):
    import torch_models
    plan = os.path.join(tmp, "plan.bin")
    cfg = torch_models.load_config(args.tgc, config, plan)
    info = json.loads(subprocess.run([args.tgc, "inspect", plan, "--json"], check=True, capture_output=True,
                                     text=True).stdout)
    shape = next(i["shape"] for i in info["programs"]["train"]["inputs"] if i["name"] == "train/inputs")
    m = info["memory"]
    row = {"config": os.path.relpath(config, ROOT), "shape": shape, "params": info["params"],
           "arena": m["arena_bytes"], "lower_bound": m["lower_bound_bytes"], "naive": m["naive_bytes"],
           "slabs": m["slabs"], "tgc_total": sum(m["slabs"].values())}
    cfg_path = os.path.join(tmp, "cfg.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", cfg_path, json.dumps(shape),
                          "--threads", str(args.threads)], check=True, capture_output=True, text=True, env=env)
    row["torch"] = json.loads(out.stdout.strip().splitlines()[-1])
    if args.tgc_rss:
        base = run_rss([args.tgc, "--version"], env)
        peak = run_rss([args.tgc, "bench", plan, "--iters", "1", "--warmup", "0"], env)
        row["tgc_rss_growth"] = peak - base
    return row


def table(rows, tgc_rss):
    head = ["config", "batch, input", "arena", "lower bound", "naive sum", "tgc total", "PyTorch allocator",
            "PyTorch RSS"]
    if tgc_rss:
        head.append("tgc RSS")
    head.append("PyTorch alloc / tgc total")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        t, s = r["torch"], r["shape"]
        cells = [os.path.basename(r["config"]).replace(".yaml", ""), "%d, %s" % (s[0], "x".join(map(str, s[1:]))),
                 "%.1f" % (r["arena"] / MIB), "%.1f" % (r["lower_bound"] / MIB), "%.1f" % (r["naive"] / MIB),
                 "%.1f" % (r["tgc_total"] / MIB),
                 "%.1f (%.1f state + %.1f step)" % (t["allocator_total_bytes"] / MIB, t["state_bytes"] / MIB,
                                                    t["step_peak_bytes"] / MIB),
                 "%.1f" % (t["rss_growth_bytes"] / MIB)]
        if tgc_rss:
            cells.append("%.1f" % (r["tgc_rss_growth"] / MIB))
        cells.append("%.2f" % (t["allocator_total_bytes"] / r["tgc_total"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--rss-of":  # before argparse: the command's own options follow
        return rss_launch(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="*", help="default: ResNet-50/18 (in1k, batch 32), ResNet-18 CIFAR, Fashion-MNIST")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--tgc", default=None, help="default: the newest build*/tgc")
    ap.add_argument("--no-tgc-rss", dest="tgc_rss", action="store_false",
                    help="skip tgc's peak RSS over one `tgc bench` step")
    ap.add_argument("--json", action="store_true", help="one JSON object per config instead of the table")
    ap.add_argument("--child", nargs=2, metavar=("CFG_JSON", "SHAPE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    if args.child:
        return torch_child(args.child[0], json.loads(args.child[1]), args.threads)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("skipped: python3-torch not available")
        return 77
    args.tgc = args.tgc or find_tgc()
    if not args.tgc:
        sys.exit("memory_vs_torch: no tgc executable found; pass --tgc")
    configs = [c if os.path.isabs(c) else os.path.join(ROOT, c) for c in (args.configs or DEFAULT_CONFIGS)]
    rows = []
    for c in configs:
        with tempfile.TemporaryDirectory() as tmp:
            r = measure(args, c, tmp, dict(os.environ))
        rows.append(r)
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            print("measured %s" % r["config"], file=sys.stderr, flush=True)
    if not args.json:
        print("MiB; tgc total = arena + input + param + buffer + grad + optstate slabs; PyTorch %s, %d threads" %
              (rows[0]["torch"]["torch"], rows[0]["torch"]["threads"]))
        print(table(rows, args.tgc_rss))
    return 0


if __name__ == "__main__":
    sys.exit(main())
