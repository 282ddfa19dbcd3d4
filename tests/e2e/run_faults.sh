# tests/e2e/run_faults.sh - faults that lose nothing: a full disk and an I/O error while a checkpoint or
# last_checkpoint is written leave the previous checkpoint and last_checkpoint valid, name the file and the
# cause, and stop the run with an error; --resume with a damaged latest checkpoint names it and the newest
# valid one. The faults come from tests/e2e/failwrite.c (LD_PRELOAD; TGC_FAILWRITE is its path).
. "$(dirname "$0")/lib.sh"
FW=${TGC_FAILWRITE:?TGC_FAILWRITE must name the failwrite library}
[ -f "$FW" ] || fail "$FW is missing"
OPTS="$SMALL train_cfg.max_epochs=3"
ck_ok() { # the checkpoint loads (format, checksum, tables): `tgc export` reads it whole
    "$TGC" export "$1" -o check.safetensors >/dev/null 2>&1
}

# 1. The disk fills up 4 KiB into epoch 2's checkpoint.
# shellcheck disable=SC2086
if TGC_FAULT_PATH=.ckpt.tmp TGC_FAULT_SKIP=1 TGC_FAULT_AFTER=4096 LD_PRELOAD=$FW \
    "$TGC" run lenet.bin --work-dir a --cfg-options $OPTS >a.txt 2>&1; then
    fail "the run with a full disk succeeded"
fi
grep -q "a/epoch_2.ckpt.tmp.[0-9]*: write failed: No space left on device" a.txt ||
    fail "the message does not name the file and the cause: $(tail -3 a.txt)"
grep -q "training stopped (earlier checkpoints are intact)" a.txt || fail "no 'training stopped': $(tail -2 a.txt)"
[ "$(cat a/last_checkpoint)" = a/epoch_1.ckpt ] || fail "last_checkpoint is $(cat a/last_checkpoint)"
[ ! -e a/epoch_2.ckpt ] || fail "a partial epoch_2.ckpt was left"
ls a | grep -q '\.tmp\.' && fail "a temp file was left: $(ls a)"
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir a --resume --cfg-options $OPTS >a2.txt 2>&1 || fail "resume after the full disk: $(tail -3 a2.txt)"
grep -q "Resuming from a/epoch_1.ckpt" a2.txt || fail "did not resume from epoch_1: $(grep -m1 Resum a2.txt)"
echo "ok: full disk during epoch_2.ckpt: named, epoch_1.ckpt and last_checkpoint kept, resumed"

# 2. An I/O error at fsync of the first checkpoint: nothing is left that claims to be a checkpoint.
# shellcheck disable=SC2086
if TGC_FAULT_PATH=.ckpt.tmp TGC_FAULT_ON=fsync TGC_FAULT_ERRNO=EIO LD_PRELOAD=$FW \
    "$TGC" run lenet.bin --work-dir b --cfg-options $OPTS >b.txt 2>&1; then
    fail "the run with an I/O error succeeded"
fi
grep -q "b/epoch_1.ckpt.tmp.[0-9]*: fsync failed: Input/output error" b.txt ||
    fail "the message does not name the file and the cause: $(tail -3 b.txt)"
[ ! -e b/last_checkpoint ] && [ ! -e b/epoch_1.ckpt ] || fail "files left after a failed first save: $(ls b)"
echo "ok: I/O error at fsync of epoch_1.ckpt: named, nothing half-written left"

# 3. The disk fills up while last_checkpoint is rewritten after epoch 2's checkpoint: the pointer keeps
# naming epoch_1.ckpt, which is still valid.
# shellcheck disable=SC2086
if TGC_FAULT_PATH=last_checkpoint.tmp TGC_FAULT_SKIP=1 LD_PRELOAD=$FW \
    "$TGC" run lenet.bin --work-dir c --cfg-options $OPTS >c.txt 2>&1; then
    fail "the run with a full disk at last_checkpoint succeeded"
fi
grep -q "c/last_checkpoint.tmp.[0-9]*: write failed: No space left on device" c.txt ||
    fail "the message does not name last_checkpoint: $(tail -3 c.txt)"
[ "$(cat c/last_checkpoint)" = c/epoch_1.ckpt ] && ck_ok c/epoch_1.ckpt ||
    fail "last_checkpoint is $(cat c/last_checkpoint), or epoch_1.ckpt does not load"
echo "ok: full disk during last_checkpoint: named, the pointer still names a valid checkpoint"

# 4. A damaged latest checkpoint: --resume names it and the newest valid one.
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir d --cfg-options $OPTS >d.txt 2>&1 || fail "the full run: $(tail -3 d.txt)"
[ "$(cat d/last_checkpoint)" = d/epoch_3.ckpt ] || fail "last_checkpoint is $(cat d/last_checkpoint)"
size=$(stat -c %s d/epoch_3.ckpt)
truncate -s $((size / 2)) d/epoch_3.ckpt
# shellcheck disable=SC2086
if "$TGC" run lenet.bin --work-dir d --resume --cfg-options $OPTS >d2.txt 2>&1; then
    fail "resumed from a truncated checkpoint"
fi
grep -q "cannot resume: d/epoch_3.ckpt: .*; the newest valid checkpoint is d/epoch_2.ckpt (iteration 8): resume from it with --resume d/epoch_2.ckpt" d2.txt ||
    fail "the message does not name the damaged and the newest valid checkpoint: $(tail -2 d2.txt)"
# a flipped byte inside the data is caught by the checksum the same way
cp d/epoch_2.ckpt d/epoch_2.bak
printf '\377' | dd of=d/epoch_2.ckpt bs=1 seek=$(($(stat -c %s d/epoch_2.ckpt) - 10)) conv=notrunc 2>/dev/null
# shellcheck disable=SC2086
if "$TGC" run lenet.bin --work-dir d --resume d/epoch_2.ckpt --cfg-options $OPTS >d3.txt 2>&1; then
    fail "resumed from a corrupted checkpoint"
fi
grep -q "cannot resume: d/epoch_2.ckpt: .*checksum.*; the newest valid checkpoint is d/epoch_1.ckpt (iteration 4)" d3.txt ||
    fail "the message for a flipped byte: $(tail -2 d3.txt)"
echo "ok: damaged latest checkpoint: named with the newest valid one"
