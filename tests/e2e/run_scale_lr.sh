# tests/e2e/run_scale_lr.sh - --auto-scale-lr with a ratio other than 1 (auto_scale_lr.base_batch_size 256,
# batch 128: lr 0.01 -> 0.005) both logs and APPLIES the scaled lr: its train records (lr and loss, to the
# last digit) and its final checkpoint (byte for byte) equal those of a run at lr 0.005 without the flag,
# and of a run with auto_scale_lr.enable=True in the config; an unscaled run differs.
. "$(dirname "$0")/lib.sh"

OPTS="$SMALL train_cfg.max_epochs=2 default_hooks.logger.interval=1 auto_scale_lr.base_batch_size=256"
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir s --auto-scale-lr --no-validate --cfg-options $OPTS >s.txt 2>&1 || fail "--auto-scale-lr: $(tail -3 s.txt)"
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir e --no-validate --cfg-options $OPTS optim_wrapper.optimizer.lr=0.005 >e.txt 2>&1 || fail "lr 0.005: $(tail -3 e.txt)"
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir c --no-validate --cfg-options $OPTS auto_scale_lr.enable=True >c.txt 2>&1 || fail "enable=True: $(tail -3 c.txt)"
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir u --no-validate --cfg-options $OPTS >u.txt 2>&1 || fail "unscaled: $(tail -3 u.txt)"

# Runner.scale_lr's line, with the flag and with the config's enable alike.
for w in s c; do
    grep -q "LR is set based on batch size of 256 and the current batch size is 128: lr 0.01 -> 0.005\$" $w.txt ||
        fail "$w: no scaling line: $(grep -m1 'LR is set' $w.txt)"
done
! grep -q "LR is set" e.txt u.txt || fail "a run without auto_scale_lr enabled logged a scaling"
# The logged lr of the first iteration (cosine schedule: epoch 1 runs at the base lr).
grep -Eq "Epoch\(train\) \[1\]\[1/4\]  lr: 5\.0000e-03  " s.txt || fail "train line: $(grep -m1 'Epoch(train)' s.txt)"
grep -Eq "Epoch\(train\) \[1\]\[1/4\]  lr: 1\.0000e-02  " u.txt || fail "unscaled train line: $(grep -m1 'Epoch(train)' u.txt)"
for w in s e c u; do
    scalars $w >$w.json || fail "scalars of $w"
    [ "$(grep -c '"loss"' $w.json)" = 8 ] || fail "expected 8 train records in $w"
done
cmp -s s.json e.json || { diff s.json e.json | head -6 >&2; fail "--auto-scale-lr trained unlike lr 0.005"; }
cmp -s s/epoch_2.ckpt e/epoch_2.ckpt || fail "--auto-scale-lr's checkpoint differs from lr 0.005's"
cmp -s c.json e.json && cmp -s c/epoch_2.ckpt e/epoch_2.ckpt || fail "auto_scale_lr.enable=True trained unlike lr 0.005"
# (the comparison can see the difference: the unscaled run's losses and weights are not these)
! cmp -s u.json e.json && ! cmp -s u/epoch_2.ckpt e/epoch_2.ckpt || fail "lr 0.01 and lr 0.005 trained alike"
echo "ok: $(tail -1 s.json)"
