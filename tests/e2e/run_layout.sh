# tests/e2e/run_layout.sh - the NHWC layout end to end on the CPU: the small ResNet of
# configs/fashion/resnet_small_fashionmnist.yaml, compiled with `--layout row` and `--layout nhwc` (f32, and
# bf16 with --amp), trains 4 iterations on the same 512 images; every iteration's loss of the NHWC plan is
# within 1e-4 (f32) / 2e-3 (bf16) relative of the ROW plan's. The kernels differ only in oneDNN's
# convolution and pooling algorithms (channels-last against blocked), whose rounding differs slightly.
. "$(dirname "$0")/lib.sh"
CFG=$SRC/configs/fashion/resnet_small_fashionmnist.yaml
OPTS="$SMALL default_hooks.logger.interval=1"
for amp in "" --amp; do
    for l in row nhwc; do
        p=$l${amp#--}
        # shellcheck disable=SC2086
        "$TGC" compile "$CFG" $amp --layout $l -o $p.bin 2>c_$p.txt || fail "compile $p: $(tail -3 c_$p.txt)"
        # shellcheck disable=SC2086
        "$TGC" run $p.bin --work-dir w_$p --max-iters 4 --cfg-options $OPTS >r_$p.txt 2>&1 ||
            fail "run $p: $(tail -3 r_$p.txt)"
        scalars w_$p >$p.json || fail "scalars of $p"
    done
    "$TGC" inspect nhwc${amp#--}.bin >i.txt 2>&1 || fail "inspect: $(tail -3 i.txt)"
    grep -q "^layout: nhwc" i.txt || fail "the nhwc plan does not say so: $(head -9 i.txt)"
    tol=1e-4
    [ -n "$amp" ] && tol=2e-3
    python3 - row${amp#--}.json nhwc${amp#--}.json $tol <<'PY' || fail "losses of the nhwc plan differ (${amp:-f32})"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
nhwc = [json.loads(l) for l in open(sys.argv[2])]
tol = float(sys.argv[3])
a = [r["loss"] for r in rows if "loss" in r]
b = [r["loss"] for r in nhwc if "loss" in r]
if len(a) != 4 or len(b) != 4:
    sys.exit("expected 4 train records each, got %d and %d" % (len(a), len(b)))
worst = max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a, b))
print("losses row %s nhwc %s: worst relative difference %.3g (tolerance %g)" % (a, b, worst, tol))
if worst > tol:
    sys.exit(1)
PY
done
echo "ok: nhwc plans train as the row plans do (f32 and bf16)"
