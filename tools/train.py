#!/usr/bin/env python3
"""tools/train.py CONFIG [ARGS] - the training command of MMPretrain's and MMDetection 2.x's docs on tgc.

Maps the flags of both tools/train.py scripts onto `tgc train` and hands over to it (exec: signals and the
exit status are tgc's):

  MMPretrain 1.x / MMDetection 3.x:
    --work-dir DIR, --resume [CKPT], --amp, --no-validate, --auto-scale-lr, --no-pin-memory,
    --no-persistent-workers, --cfg-options K=V ..., --launcher none|pytorch|slurm|mpi, --local-rank N
  MMDetection 2.x / MMClassification 0.x:
    --resume-from CKPT (= --resume CKPT), --auto-resume (= --resume), --options K=V ... (= --cfg-options),
    --seed N, --deterministic, --gpu-id N, --gpu-ids N..., --gpus N, --fp16 (= --amp), --diff-seed

MMDetection 2.x's `--gpus N` is deprecated there and trains on ONE GPU (gpu_ids = range(1)), not N; this
script follows 2.x and says so. N workers are `tools/dist_train.sh CONFIG N` or `tgc train --gpus N`,
where --gpus keeps tgc's meaning. --gpu-id N picks GPU N (--device cuda:N); with no GPU visible the
run stays on the CPU and the script says so. Options that are neither (--max-iters N, --device, --nproc,
--profile, ...) go to `tgc train` unchanged. TGC names the tgc executable (default: tgc on PATH, else
build/tgc next to this script). Python's standard library only.
"""
import argparse
import os
import shutil
import subprocess
import sys


def warn(msg):
    print(f"train.py: {msg}", file=sys.stderr)


def gpu_visible():
    if os.environ.get("CUDA_VISIBLE_DEVICES", "") == "-1" or not shutil.which("nvidia-smi"):
        return False
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.startswith("GPU") for line in out.splitlines())


def tgc_path():
    if os.environ.get("TGC"):
        return os.environ["TGC"]
    found = shutil.which("tgc")
    if found:
        return found
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "tgc")


def parse(argv):
    p = argparse.ArgumentParser(
        prog="tools/train.py",
        description="Train a model with tgc from an MMPretrain / MMDetection config (.py or YAML).",
        epilog="Other options (--max-iters N, --device, --nproc N, --profile DIR, ...) are passed to "
        "`tgc train` unchanged; `tgc help train` lists them.")
    p.add_argument("config", help="train config file path (.py or .yaml)")
    p.add_argument("--work-dir", help="the dir to save logs and models")
    p.add_argument("--resume", nargs="?", type=str, const="auto",
                   help="resume from CKPT, or from the latest checkpoint in the work dir when no CKPT is given")
    p.add_argument("--resume-from", help="(MMDetection 2.x) the checkpoint file to resume from")
    p.add_argument("--auto-resume", action="store_true",
                   help="(MMDetection 2.x) resume from the latest checkpoint in the work dir")
    p.add_argument("--amp", action="store_true", help="enable automatic-mixed-precision training")
    p.add_argument("--fp16", action="store_true", help="(2.x-era docs) the same as --amp")
    p.add_argument("--no-validate", action="store_true", help="do not evaluate checkpoints during training")
    p.add_argument("--auto-scale-lr", action="store_true",
                   help="scale the lr by the total batch size / auto_scale_lr.base_batch_size")
    p.add_argument("--no-pin-memory", action="store_true", help="do not pin the loader's memory")
    p.add_argument("--no-persistent-workers", action="store_true", help="do not keep loader workers alive")
    p.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE", default=[],
                   help="override config keys (MMEngine's DictAction rules)")
    p.add_argument("--options", nargs="+", metavar="KEY=VALUE", default=[],
                   help="(MMDetection 2.x, deprecated there) the same as --cfg-options")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default=None, help="job launcher")
    p.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--diff-seed", action="store_true", help="(MMDetection 2.x) a different seed per rank")
    p.add_argument("--deterministic", action="store_true", help="deterministic results (fixed thread count)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--gpus", type=int, help="(MMDetection 2.x, deprecated there) train on ONE GPU; "
                   "N workers: tools/dist_train.sh CONFIG N")
    g.add_argument("--gpu-ids", type=int, nargs="+", help="(MMDetection 2.x) only the first id is used")
    g.add_argument("--gpu-id", type=int, help="(MMDetection 2.x) the GPU to use")
    # tools/dist_train.sh's N GPU workers (tgc train --gpus N)
    p.add_argument("--launch-gpus", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_known_args(argv)


def build(args, rest):
    cmd = [tgc_path(), "train", args.config]
    if args.work_dir:
        cmd += ["--work-dir", args.work_dir]
    resume = None
    if args.resume_from:
        resume = args.resume_from
    elif args.resume is not None:
        resume = args.resume
    elif args.auto_resume:
        resume = "auto"
    if args.resume_from and args.resume is not None:
        warn("--resume-from and --resume both given: resuming from --resume-from")
    if resume == "auto":
        cmd.append("--resume")
    elif resume:
        cmd += ["--resume", resume]
    if args.fp16:
        warn("--fp16 is MMEngine's --amp (AmpOptimWrapper): passing --amp")
    if args.amp or args.fp16:
        cmd.append("--amp")
    for flag in ("no_validate", "auto_scale_lr", "no_pin_memory", "no_persistent_workers", "deterministic"):
        if getattr(args, flag):
            cmd.append("--" + flag.replace("_", "-"))
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    if args.diff_seed:
        warn("--diff-seed is not implemented by tgc (every rank uses the same seed); ignored")
    options = list(args.cfg_options)
    if args.options:
        warn("--options is deprecated; it is --cfg-options")
        options += args.options
    if options:
        cmd += ["--cfg-options"] + options
    if args.launcher:
        cmd += ["--launcher", args.launcher]
    gpu = None
    if args.gpus is not None:
        warn(f"--gpus {args.gpus}: as in MMDetection 2.x, --gpus is deprecated and trains on one GPU, not "
             f"{args.gpus}; for {args.gpus} workers run tools/dist_train.sh {args.config} {args.gpus} "
             f"(or tgc train --gpus {args.gpus})")
        gpu = 0
    elif args.gpu_ids:
        if len(args.gpu_ids) > 1:
            warn(f"--gpu-ids: only the first GPU ({args.gpu_ids[0]}) is used in non-distributed training, as in "
                 "MMDetection 2.x")
        gpu = args.gpu_ids[0]
    elif args.gpu_id is not None:
        gpu = args.gpu_id
    if args.launch_gpus is not None:
        cmd += ["--gpus", str(args.launch_gpus)]
    elif gpu is not None:
        if gpu_visible():
            cmd += ["--device", f"cuda:{gpu}"]
        else:
            warn(f"GPU {gpu} asked for but no GPU is visible: training on the CPU")
    return cmd + rest


def main(argv):
    args, rest = parse(argv)
    cmd = build(args, rest)
    if os.environ.get("TGC_TRAIN_PY_ECHO"):  # tests: print the tgc command instead of running it
        print(" ".join(cmd))
        return 0
    try:
        os.execv(cmd[0], cmd)
    except OSError as e:
        print(f"train.py: cannot run {cmd[0]}: {e.strerror} (set TGC to the tgc executable)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
