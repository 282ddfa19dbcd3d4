# tests/e2e/run_randaug.sh - the Fashion-MNIST recipe with RandAugment (timm_increasing, as MMPretrain's rsb
# recipes use it, on grey images): it compiles without a warning, trains (finite losses, other than the
# run without it), and its losses do not depend on num_workers.
. "$(dirname "$0")/lib.sh"

cat >randaug.yaml <<YAML
_base_: $SRC/configs/fashion/lenet5_fashionmnist.yaml
train_dataloader:
  dataset:
    pipeline:
      - {type: Resize, scale: 32}
      - type: RandAugment
        policies: timm_increasing
        num_policies: 2
        total_level: 10
        magnitude_level: 9
        magnitude_std: 0.5
        hparams: {pad_val: 0, interpolation: bicubic}
      - {type: PackInputs}
YAML
"$TGC" compile randaug.yaml -o randaug.bin >compile.txt 2>&1 || fail "compile: $(tail -3 compile.txt)"
! grep -q "warning" compile.txt || fail "RandAugment listed as not implemented: $(cat compile.txt)"

OPTS="$SMALL train_cfg.max_epochs=1 default_hooks.logger.interval=1"
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir plain --cfg-options $OPTS >plain.txt 2>&1 || fail "plain run: $(tail -3 plain.txt)"
for w in 0 2; do
    # shellcheck disable=SC2086
    "$TGC" run randaug.bin --work-dir ra$w --cfg-options $OPTS train_dataloader.num_workers=$w >ra$w.txt 2>&1 ||
        fail "RandAugment run, num_workers $w: $(tail -3 ra$w.txt)"
done
scalars plain | grep '"loss"' >plain.json
scalars ra0 | grep '"loss"' >ra0.json
scalars ra2 | grep '"loss"' >ra2.json
[ "$(wc -l <ra0.json)" -eq 4 ] || fail "expected 4 training iterations: $(cat ra0.json)"
cmp -s ra0.json ra2.json || fail "num_workers 0 and 2 give different losses: $(diff ra0.json ra2.json)"
! cmp -s plain.json ra0.json || fail "RandAugment changed nothing"
python3 - ra0.json <<'PY' || fail "losses"
import json, math, sys
losses = [json.loads(l)["loss"] for l in open(sys.argv[1])]
assert all(math.isfinite(x) and 0 < x < 10 for x in losses), losses
print("ok: 4 iterations with RandAugment, losses %s" % ", ".join("%.4f" % x for x in losses))
PY
