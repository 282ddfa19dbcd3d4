# tests/e2e/run_amp.sh - mixed precision end to end on LeNet5: a bf16 AMP run (`tgc train --amp`) logs its
# precision and trains; a float16 run whose loss scale starts far too high (2^26, a planted overflow) skips
# its overflowed steps, leaving the parameters untouched, and halves the scale each time with mmcv's log
# line; and AMP runs resumed from a mid-run checkpoint (bf16, and float16 with the scale restored) end with
# the same records, to the last digit, as uninterrupted ones.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
CKPT_DIFF="$SRC/tests/dist/ckpt_diff.py"

# bf16: tgc train --amp compiles the AMP plan in one step and says which dtype it chose.
# shellcheck disable=SC2086
"$TGC" train "$SRC/configs/fashion/lenet5_fashionmnist.yaml" --amp --work-dir t --max-iters 4 \
    --cfg-options $SMALL >t.txt 2>&1 || fail "tgc train --amp: $(tail -3 t.txt)"
grep -q "Mixed precision (AmpOptimWrapper): bfloat16 conv/matmul" t.txt || fail "no precision line: $(grep -m2 INFO t.txt)"
grep -q "resume with: tgc train .*lenet5_fashionmnist.yaml --amp --work-dir t --resume" t.txt ||
    fail "the resume hint lacks --amp: $(grep -m1 'resume with' t.txt)"

"$TGC" compile "$SRC/configs/fashion/lenet5_fashionmnist.yaml" --amp -o bf16.bin 2>/dev/null || fail "compile --amp"
L16="optim_wrapper.loss_scale.init_scale=67108864.0"
"$TGC" compile "$SRC/configs/fashion/lenet5_fashionmnist.yaml" --fp16 -o f16.bin --cfg-options $L16 2>/dev/null ||
    fail "compile --fp16"

# A planted overflow: at scale 2^26 the first step's gradients overflow float16, so the step is skipped and
# the scale halves (mmcv's words), step after step, until the gradients fit.
OPTS="$SMALL default_hooks.logger.interval=1"
# shellcheck disable=SC2086
"$TGC" run f16.bin --work-dir o --max-iters 1 --cfg-options $OPTS >o.txt 2>&1 || fail "fp16 run: $(tail -3 o.txt)"
grep -q "WARNING - Check overflow, downscale loss scale to 33554432.0" o.txt ||
    fail "no overflow line after the first step: $(grep -m3 mmengine o.txt)"
# The skipped step left every parameter as initialised: the same as one fp32 step at lr 0.
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir z --max-iters 1 --cfg-options $OPTS optim_wrapper.optimizer.lr=0 >z.txt 2>&1 ||
    fail "lr 0 run: $(tail -3 z.txt)"
$PY "$CKPT_DIFF" o/iter_1.ckpt z/iter_1.ckpt --exact --prefix backbone. --prefix head. \
    >d.txt 2>&1 || fail "a skipped step changed the parameters: $(cat d.txt)"

# Resumes: an uninterrupted run of 3 epochs against one stopped after 3 iterations and resumed, for bf16 and
# for float16 (its scale, still falling at iteration 3, must come back from the checkpoint).
for p in bf16 f16; do
    # shellcheck disable=SC2086
    "$TGC" run $p.bin --work-dir ${p}_a --cfg-options $OPTS >${p}_a.txt 2>&1 || fail "$p run: $(tail -3 ${p}_a.txt)"
    # shellcheck disable=SC2086
    "$TGC" run $p.bin --work-dir ${p}_b --max-iters 3 --cfg-options $OPTS >${p}_b1.txt 2>&1 ||
        fail "$p first part: $(tail -3 ${p}_b1.txt)"
    # shellcheck disable=SC2086
    "$TGC" run $p.bin --work-dir ${p}_b --resume --cfg-options $OPTS >${p}_b2.txt 2>&1 ||
        fail "$p resumed part: $(tail -3 ${p}_b2.txt)"
    scalars ${p}_a >${p}_a.json || fail "scalars of ${p}_a"
    scalars ${p}_b >${p}_b.json || fail "scalars of ${p}_b"
    [ "$(grep -c '"loss"' ${p}_a.json)" = 12 ] || fail "$p: expected 12 train records"
    cmp -s ${p}_a.json ${p}_b.json || { diff ${p}_a.json ${p}_b.json | head -6 >&2; fail "$p: the resumed run differs"; }
    $PY "$CKPT_DIFF" ${p}_a/epoch_3.ckpt ${p}_b/epoch_3.ckpt --exact >d.txt 2>&1 || fail "$p: final state differs: $(cat d.txt)"
done
# float16's overflow lines: the uninterrupted run's, split across the two parts of the resumed one.
grep -o "Check overflow, downscale loss scale to [0-9.]*" f16_a.txt >ov_a.txt
cat f16_b1.txt f16_b2.txt | grep -o "Check overflow, downscale loss scale to [0-9.]*" >ov_b.txt
[ -s ov_a.txt ] && cmp -s ov_a.txt ov_b.txt || fail "overflow lines differ after resume: $(tail -2 ov_a.txt) / $(tail -2 ov_b.txt)"
grep -q "Check overflow" f16_b2.txt || fail "the resumed float16 run saw no overflow: was its scale restored?"
echo "ok: bf16 and float16 AMP runs, $(wc -l <ov_a.txt) overflowed steps skipped, resumes identical"
