#!/usr/bin/env bash
# bench/fusion.sh - what the fusion passes buy: for each config, one plan compiled with them and one
# without (--disable-pass fold-bn, fuse-bn-relu, fuse-elementwise, fuse-optimizer), their instructions,
# kernels and estimated bytes moved per train/eval step (tgc inspect --json), and `tgc bench` img/s of
# both, alternated ROUNDS times in one run on one machine (best of each kept).
#
# usage: bench/fusion.sh [--tgc PATH] [--rounds R] [--iters N] [CONFIG[:BATCH] ...]
#   default configs: configs/fashion/resnet_small_fashionmnist.yaml configs/fashion/lenet5_fashionmnist.yaml
#                    configs/resnet/resnet18_8xb16_cifar10.yaml:16
#   BATCH overrides train/val batch size (--cfg-options).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tgc=""
rounds=3
iters=10
configs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tgc) tgc=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) configs+=("$1"); shift ;;
  esac
done
if [ -z "$tgc" ]; then tgc=$(ls -t "$here"/build*/tgc 2>/dev/null | head -n 1 || true); fi
[ -x "$tgc" ] || { echo "fusion.sh: no tgc binary (build one, or pass --tgc PATH)" >&2; exit 2; }
if [ ${#configs[@]} -eq 0 ]; then
  configs=(configs/fashion/resnet_small_fashionmnist.yaml configs/fashion/lenet5_fashionmnist.yaml
           configs/resnet/resnet18_8xb16_cifar10.yaml:16)
fi
off=(--disable-pass fold-bn --disable-pass fuse-bn-relu --disable-pass fuse-elementwise --disable-pass fuse-optimizer)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

echo "tgc: $tgc; $(nproc) cores; rounds $rounds x $iters steps; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for spec in "${configs[@]}"; do
  cfg=${spec%%:*}
  batch=""
  [ "$spec" != "$cfg" ] && batch=${spec##*:}
  opts=()
  [ -n "$batch" ] && opts=(--cfg-options "train_dataloader.batch_size=$batch" "val_dataloader.batch_size=$batch")
  case "$cfg" in /*) path=$cfg ;; *) path=$here/$cfg ;; esac
  name=$(basename "$cfg" .yaml)
  "$tgc" compile "$path" -o "$work/$name.on.plan" "${opts[@]}" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
  "$tgc" compile "$path" -o "$work/$name.off.plan" "${opts[@]}" "${off[@]}" > "$work/log" 2>&1 ||
    { cat "$work/log"; exit 1; }
  for v in on off; do "$tgc" inspect "$work/$name.$v.plan" --json > "$work/$name.$v.json"; done
  for r in $(seq "$rounds"); do
    for v in on off; do
      "$tgc" bench "$work/$name.$v.plan" --iters "$iters" --warmup 2 --json > "$work/$name.$v.bench.$r"
    done
  done
  /usr/bin/python3 - "$work" "$name" "$rounds" "${batch:-config}" <<'PY'
import json, sys
work, name, rounds, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def load(v):
    j = json.load(open("%s/%s.%s.json" % (work, name, v)))
    b = [json.load(open("%s/%s.%s.bench.%d" % (work, name, v, r))) for r in range(1, rounds + 1)]
    return j, b
print("\n== %s (batch %s)" % (name, batch))
print("%-6s %-5s %6s %8s %12s %12s" % ("plan", "prog", "ops", "kernels", "MiB moved", "img/s best"))
res = {}
for v in ("on", "off"):
    j, b = load(v)
    for prog in ("train", "eval"):
        p = j["programs"][prog]
        best = max(x[prog + "_img_per_s"] for x in b)
        res[(v, prog)] = (p, best)
        print("%-6s %-5s %6d %8d %12.1f %12.1f" % ("fused" if v == "on" else "plain", prog, p["ops"], p["kernels"],
              p["bytes_moved"] / 2**20, best))
for prog in ("train", "eval"):
    (pf, f), (pu, u) = res[("on", prog)], res[("off", prog)]
    print("%s: kernels %d -> %d, bytes moved %.1f -> %.1f MiB (%.0f%%), img/s x%.3f (fused %.1f vs plain %.1f)" % (
        prog, pu["kernels"], pf["kernels"], pu["bytes_moved"] / 2**20, pf["bytes_moved"] / 2**20,
        100.0 * (pf["bytes_moved"] - pu["bytes_moved"]) / pu["bytes_moved"], f / u, f, u))
PY
done
