# tests/e2e/lib.sh - shared setup of the end-to-end run tests (sourced): arguments, dataset check, a plan.
# Usage of every test: NAME.sh TGC SOURCE_DIR OUT_DIR
. "$(dirname "$0")/../lib_common.sh"
export OMP_WAIT_POLICY=passive # oneDNN's OpenMP threads otherwise spin between steps
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
"$TGC" compile "$SRC/configs/fashion/lenet5_fashionmnist.yaml" -o lenet.bin 2>/dev/null || fail "compile"

# A small deterministic LeNet5 run: 512 training images (4 iterations of 128 per epoch), 256 for validation,
# at lr 0.01 (whatever the shipped config's schedule, epoch 1 starts at the base lr).
SMALL="train_dataloader.dataset.data_prefix=$DATA val_dataloader.dataset.data_prefix=$DATA
 train_dataloader.dataset.indices=512 val_dataloader.dataset.indices=256 train_cfg.max_epochs=3
 randomness.seed=7 randomness.deterministic=True optim_wrapper.optimizer.lr=0.01"

# The train/val records of every scalars.json under a work dir, without the timings, one JSON per line
# (text as tgc wrote it), sorted by (kind, step).
scalars() {
    python3 - "$1" <<'PY'
import glob, json, re, sys
rows = {}
for f in sorted(glob.glob(sys.argv[1] + "/*/vis_data/scalars.json")):
    for line in open(f):
        line = re.sub(r'"(data_time|time)": [^,}]*, ', "", line.strip())
        rec = json.loads(line)
        key = ("train" if "loss" in rec else "val", rec["step"])
        if key in rows and rows[key] != line:
            sys.exit("the record of %s %d differs between runs:\n%s\n%s" % (key + (rows[key], line)))
        rows[key] = line
for key in sorted(rows):
    print(rows[key])
PY
}
