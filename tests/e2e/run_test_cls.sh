# tests/e2e/run_test_cls.sh - `tgc test PLAN CHECKPOINT` on a classifier: the test_dataloader (the val set
# here) gives the last validation's accuracy in an "Epoch(test)" line; a bad checkpoint or a missing argument
# is refused.
. "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir w --cfg-options $SMALL train_cfg.max_epochs=1 >run.txt 2>err.txt || fail "run: $(cat err.txt)"
"$TGC" test lenet.bin w/epoch_1.ckpt --work-dir t --cfg-options test_dataloader.dataset.data_prefix="$DATA" \
    test_dataloader.dataset.indices=256 >test.txt 2>err.txt || fail "test: $(cat err.txt)"
val=$(grep -o 'Epoch(val) \[1\]\[2/2\]    accuracy/top1: [0-9.]*' run.txt | grep -o '[0-9.]*$')
[ -n "$val" ] || fail "no val line: $(grep 'Epoch(val)' run.txt)"
grep -Eq "Epoch\(test\) \[2/2\]    accuracy/top1: $val  data_time: " test.txt ||
    fail "the test accuracy differs from the validation's $val: $(grep 'Epoch(test)' test.txt)"
grep -q 'Epoch(train)\|Saving checkpoint' test.txt && fail "tgc test trained or saved"
[ ! -e t/last_checkpoint ] || fail "tgc test wrote a checkpoint"

set +e
"$TGC" test lenet.bin >/dev/null 2>err.txt
[ $? = 2 ] || fail "a missing checkpoint argument is not a usage error"
grep -q 'give a plan and a checkpoint' err.txt || fail "usage message: $(cat err.txt)"
"$TGC" test lenet.bin no-such.ckpt --work-dir t2 >/dev/null 2>err.txt
[ $? = 1 ] || fail "a missing checkpoint file is not an error"
grep -q 'no-such.ckpt' err.txt || fail "the error does not name the checkpoint: $(cat err.txt)"
exit 0
