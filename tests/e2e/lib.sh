# tests/e2e/lib.sh - shared setup of the end-to-end run tests (sourced): arguments, dataset check, a plan.
# Usage of every test: NAME.sh TGC SOURCE_DIR OUT_DIR
set -eu
TGC=$1
SRC=$2
OUT=$3
DATA=${TGC_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
export OMP_WAIT_POLICY=passive # oneDNN's OpenMP threads otherwise spin between steps
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
# Under CI (CI=true: CI services and .ci/run set it) tools/setup.sh has installed every prerequisite, so a
# missing one is a failure there; elsewhere the test is skipped (status 77, SKIP_RETURN_CODE in CMake).
under_ci() {
    case "${CI:-}" in true | TRUE | True | 1) return 0 ;; esac
    return 1
}
missing() {
    under_ci && fail "$* (CI=true: tools/setup.sh installs it, so this fails instead of being skipped)"
    echo "skipped: $*"
    exit 77
}
# The same, but only once the rest of the test has passed: its failures still fail it; then it is
# reported skipped (status 77) instead of passed.
missing_at_end() {
    under_ci && fail "$* (CI=true: tools/setup.sh installs it, so this fails instead of being skipped)"
    echo "(the test goes on, then is reported skipped: $*)"
    SKIP_REASON=$*
    trap 'st=$?; if [ $st = 0 ]; then echo "skipped: $SKIP_REASON"; exit 77; fi' EXIT
}

if [ ! -e "$DATA/train-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/train-images-idx3-ubyte" ]; then
    missing "Fashion-MNIST is not in $DATA (install Debian's dataset-fashion-mnist or set TGC_FASHION_MNIST)"
fi
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"
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
