# tests/e2e/run_ema.sh - EMAHook: the averaged weights start as the parameters after the first iteration
# and follow ema += momentum * (param - ema) after each later one (checked on checkpoints of a run stopped
# and resumed at every iteration); validation runs on them (its accuracy differs from the same run without
# the hook) and swaps them back (the parameters after the epoch equal those of the run without the hook,
# bit for bit).
. "$(dirname "$0")/lib.sh"

cat >ema.yaml <<YAML
_base_: $SRC/configs/fashion/lenet5_fashionmnist.yaml
custom_hooks: [{type: EMAHook, momentum: 0.25, priority: ABOVE_NORMAL}]
YAML
"$TGC" compile ema.yaml -o ema.bin >ema_compile.txt 2>&1 || fail "compile: $(tail -3 ema_compile.txt)"
! grep -q "warning" ema_compile.txt || fail "EMAHook listed as not implemented: $(cat ema_compile.txt)"
"$TGC" inspect ema.bin | grep -q "program ema: batch 0, 10 instructions" || fail "no ema program of 10 updates"

OPTS="$SMALL train_cfg.max_epochs=1 default_hooks.logger.interval=1"
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir plain --cfg-options $OPTS >plain.txt 2>&1 || fail "plain run: $(tail -3 plain.txt)"
for n in 1 2 3; do
    resume=""
    [ $n -gt 1 ] && resume=--resume
    # shellcheck disable=SC2086
    "$TGC" run ema.bin --work-dir ema $resume --max-iters $n --cfg-options $OPTS >ema$n.txt 2>&1 ||
        fail "EMA run to iteration $n: $(tail -3 ema$n.txt)"
done
# shellcheck disable=SC2086
"$TGC" run ema.bin --work-dir ema --resume --cfg-options $OPTS >ema4.txt 2>&1 || fail "EMA run: $(tail -3 ema4.txt)"

PYTHONPATH="$SRC/tests/numerics" /usr/bin/python3 - <<'PY' || fail "the averaged weights"
import numpy as np
import tgc_ckpt

m = 0.25
ck = {n: tgc_ckpt.load("ema/iter_%d.ckpt" % n)[0] for n in (1, 2, 3)}
params = [k for k in ck[1] if "ema." + k in ck[1]]
assert len(params) == 10, params
for k in params:  # the first update copies the parameters
    assert np.array_equal(ck[1]["ema." + k], ck[1][k]), k
for n in (2, 3):
    for k in params:
        prev, p, e = ck[n - 1]["ema." + k], ck[n][k], ck[n]["ema." + k]
        want = prev + np.float32(m) * (p - prev)
        err = np.abs(e - want).max() / max(np.abs(want).max(), 1e-30)
        assert err < 1e-6, (n, k, err)
        assert not np.array_equal(e, p), (n, k)
end, plain = tgc_ckpt.load("ema/epoch_1.ckpt")[0], tgc_ckpt.load("plain/epoch_1.ckpt")[0]
for k in params:  # validation swapped the averages in and back out
    assert np.array_equal(end[k], plain[k]), k
    assert not np.array_equal(end["ema." + k], end[k]), k
print("ok: %d averaged tensors" % len(params))
PY
acc() { grep -o "Epoch(val) \[1\]\[2/2\]    accuracy/top1: [0-9.]*" "$1" | tail -1; }
[ -n "$(acc ema4.txt)" ] && [ -n "$(acc plain.txt)" ] || fail "no validation line"
[ "$(acc ema4.txt)" != "$(acc plain.txt)" ] || fail "validation did not run on the averaged weights: $(acc ema4.txt)"
echo "ok: plain $(acc plain.txt), EMA $(acc ema4.txt)"
