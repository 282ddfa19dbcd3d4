#!/usr/bin/env python3
"""bench/train_step_vs_torch.py - tgc's CPU train step against PyTorch's, same machine, same thread count.

For one config: compiles it, times tgc's train step (`tgc bench PLAN --json`, with `--profile` its
per-op profile) and PyTorch's (forward, loss, backward, optimizer step on the
same model - tests/numerics/torch_models.py - with the same batch, float32, NCHW), both after warm-up,
and prints the median step time, img/s and the ratio tgc/PyTorch. With --amp, in the same run: tgc's
mixed-precision plan (`tgc compile --amp`: bf16 conv/matmul on the CPU) and PyTorch under
torch.autocast('cpu', dtype=torch.bfloat16) with channels_last model and input, its recommended CPU AMP
setup. See bench/README.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "numerics"))


def find_default(name):
    """build*/<name> under the repository, most recently built first."""
    cands = []
    for d in os.listdir(ROOT):
        p = os.path.join(ROOT, d, name)
        if d.startswith("build") and os.path.isfile(p) and os.access(p, os.X_OK):
            cands.append((os.path.getmtime(p), p))
    return max(cands)[1] if cands else None


def tgc_step(args, plan, env, tmp):
    """tgc's figures from `tgc bench`: img_per_s, step_ms_median, and with --profile the per-op profile
    ({op: {ms_per_step, calls_per_step}}) from the profiler's op_summary.json."""
    cmd = [args.tgc, "bench", plan, "--json", "--iters", str(args.steps), "--warmup", str(args.warmup)]
    prof_dir = os.path.join(tmp, "profile")
    if args.profile:
        cmd += ["--profile", prof_dir]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    d = json.loads(out.strip().splitlines()[-1])
    res = {"step_ms_median": d["train_ms_median"], "img_per_s": 1e3 * d["train_batch"] / d["train_ms_median"]}
    if args.profile:
        summary = json.load(open(os.path.join(prof_dir, "rank0", "op_summary.json")))
        steps = summary["steps_profiled"]
        res["profile"] = {o["op"]: {"ms_per_step": o["total_ms"] / steps, "calls_per_step": o["calls"] / steps}
                          for o in summary["ops"]}
    return res


def torch_step(args, cfg, shape, amp=False):
    """amp: autocast bf16 with channels_last model and input (the loss in f32, as MMEngine's AmpOptimWrapper)."""
    import torch
    import torch_models
    model, opt, x, y = torch_models.synthetic_setup(cfg, shape, args.threads)
    if amp:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    times = []
    for s in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            scores = model(x)
        loss = model.loss(scores.float(), y)
        loss.backward()
        opt.step()
        if s >= args.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"step_ms_median": 1e3 * med, "img_per_s": shape[0] / med, "version": torch.__version__,
            "threads": torch.get_num_threads()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=os.path.join(ROOT, "configs/fashion/resnet_small_fashionmnist.yaml"))
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="default: all cores")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1, help="alternate tgc and PyTorch this many times; best of each")
    ap.add_argument("--tgc", default=find_default("tgc"))
    ap.add_argument("--profile", action="store_true", help="also print tgc's time per op type")
    ap.add_argument("--amp", action="store_true",
                    help="also tgc --amp (bf16) and PyTorch autocast bf16 channels_last, in the same rounds")
    args = ap.parse_args()
    if not args.tgc:
        sys.exit("train_step_vs_torch: no tgc executable found; pass --tgc")
    # Both sides read the thread count from the environment too (libgomp at load, torch at import).
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    env = dict(os.environ)
    try:
        import torch  # noqa: F401  (imported after OMP_NUM_THREADS is set)
    except ImportError:
        print("skipped: python3-torch not available")
        return 77
    import torch_models

    with tempfile.TemporaryDirectory() as tmp:
        plan = os.path.join(tmp, "plan.bin")
        cfg = torch_models.load_config(args.tgc, args.config, plan)
        info = json.loads(subprocess.run([args.tgc, "inspect", plan, "--json"], check=True, capture_output=True,
                                         text=True).stdout)
        shape = next(i["shape"] for i in info["programs"]["train"]["inputs"] if i["name"] == "train/inputs")
        amp_plan = os.path.join(tmp, "amp.bin")
        if args.amp:
            subprocess.run([args.tgc, "compile", args.config, "--amp", "-o", amp_plan], check=True,
                           capture_output=True)
        best = {}

        def keep(key, r):
            if key not in best or r["img_per_s"] > best[key]["img_per_s"]:
                best[key] = r
        for _ in range(args.rounds):
            keep("tgc", tgc_step(args, plan, env, tmp))
            keep("torch", torch_step(args, cfg, shape))
            if args.amp:
                keep("tgc_amp", tgc_step(args, amp_plan, env, tmp))
                keep("torch_amp", torch_step(args, cfg, shape, amp=True))
        tg, th = best["tgc"], best["torch"]

    print("config %s: batch %d, input %s, %d threads, %d timed steps after %d warm-up (median)" %
          (os.path.relpath(args.config, ROOT), shape[0], "x".join(map(str, shape[1:])), args.threads, args.steps,
           args.warmup))
    print("  %-22s %10.2f ms/step %10.1f img/s" % ("tgc", tg["step_ms_median"], tg["img_per_s"]))
    print("  %-22s %10.2f ms/step %10.1f img/s" % ("PyTorch " + th["version"], th["step_ms_median"], th["img_per_s"]))
    print("  ratio tgc/PyTorch (img/s): %.2f" % (tg["img_per_s"] / th["img_per_s"]))
    if args.amp:
        ta, pa = best["tgc_amp"], best["torch_amp"]
        print("  %-22s %10.2f ms/step %10.1f img/s" % ("tgc --amp (bf16)", ta["step_ms_median"], ta["img_per_s"]))
        print("  %-22s %10.2f ms/step %10.1f img/s" % ("PyTorch autocast bf16 CL", pa["step_ms_median"],
                                                          pa["img_per_s"]))
        print("  tgc --amp / tgc fp32: %.2f;  tgc --amp / PyTorch autocast: %.2f;  PyTorch autocast / fp32: %.2f" %
              (ta["img_per_s"] / tg["img_per_s"], ta["img_per_s"] / pa["img_per_s"],
               pa["img_per_s"] / th["img_per_s"]))
    for label, r in (("tgc", tg), ("tgc --amp", best.get("tgc_amp"))):
        if not args.profile or not r or "profile" not in r:
            continue
        total = r["step_ms_median"]
        print("  %s per op type (ms/step, share of the median step):" % label)
        for op, v in sorted(r["profile"].items(), key=lambda kv: -kv[1]["ms_per_step"]):
            print("    %-28s %8.3f %6.1f%%  %5.1f calls" % (op, v["ms_per_step"], 100 * v["ms_per_step"] / total,
                                                         v["calls_per_step"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
