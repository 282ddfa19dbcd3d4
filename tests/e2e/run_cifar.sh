# tests/e2e/run_cifar.sh - MMPretrain's own ResNet-18 CIFAR-10 and ResNet-50 CIFAR-100 recipes (tests/recipes/mmpretrain,
# unchanged) train two iterations and validate on tests/datasets/cifar_fixtures.py's small python-version pickles, data_root and
# batch sizes overridden by --cfg-options; a missing batch and a truncated one stop the run naming the file.
# Usage: run_cifar.sh TGC SOURCE_DIR OUT_DIR
set -eu
TGC=$1
SRC=$2
OUT=$3
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
export OMP_WAIT_POLICY=passive
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"
/usr/bin/python3 "$SRC/tests/datasets/cifar_fixtures.py" make data || fail "building the fixtures"
R=$SRC/tests/recipes/mmpretrain
# 15 training images (5 batches of 3) in batches of 7: two iterations; the 4 test images in batches of 2.
opts() {
    echo "train_cfg.max_epochs=1 randomness.seed=3 train_dataloader.batch_size=7 val_dataloader.batch_size=2
          train_dataloader.num_workers=1 train_dataloader.dataset.data_root=$1 val_dataloader.dataset.data_root=$1/"
}
# shellcheck disable=SC2046
"$TGC" train "$R/resnet18_8xb16_cifar10.yaml" --work-dir c10 --device cpu --cfg-options $(opts "$PWD/data/cifar10") \
    >c10.txt 2>&1 || fail "CIFAR10: $(tail -5 c10.txt)"
grep -Eq 'Epoch\(train\) +\[1\]\[2/2\] .*loss: [0-9]+\.[0-9]+$' c10.txt || fail "no iteration 2/2 with a loss: $(cat c10.txt)"
grep -q 'Epoch(val) \[1\]\[2/2\] *accuracy/top1: ' c10.txt || fail "no validation on the 4 test images: $(cat c10.txt)"

# CIFAR-100 (fine labels, 100 classes): MMPretrain's ResNet-50 recipe, the 6 training images in batches of 3.
# shellcheck disable=SC2046
"$TGC" train "$R/resnet50_8xb16_cifar100.yaml" --work-dir c100 --device cpu --cfg-options $(opts "$PWD/data/cifar100") \
    train_dataloader.batch_size=3 >c100.txt 2>&1 || fail "CIFAR100: $(tail -5 c100.txt)"
grep -Eq 'Epoch\(train\) +\[1\]\[2/2\] .*loss: [0-9]+\.[0-9]+$' c100.txt || fail "CIFAR100: no iteration 2/2: $(cat c100.txt)"

# A missing batch: the error names the file and what to extract where.
cp -r data/cifar10 miss
rm miss/cifar-10-batches-py/data_batch_3
# shellcheck disable=SC2046
if "$TGC" train "$R/resnet18_8xb16_cifar10.yaml" --work-dir c10m --device cpu --cfg-options $(opts "$PWD/miss") \
    >miss.txt 2>&1; then
    fail "a missing data_batch_3 was accepted"
fi
grep -q "miss/cifar-10-batches-py/data_batch_3 does not exist: extract cifar-10-python.tar.gz" miss.txt ||
    fail "the error does not name the missing file: $(tail -3 miss.txt)"

# A truncated test batch: the error names the file and the pickle offset.
cp -r data/cifar10 trunc
head -c 5000 data/cifar10/cifar-10-batches-py/test_batch >trunc/cifar-10-batches-py/test_batch
# shellcheck disable=SC2046
if "$TGC" train "$R/resnet18_8xb16_cifar10.yaml" --work-dir c10t --device cpu --cfg-options $(opts "$PWD/trunc") \
    >trunc.txt 2>&1; then
    fail "a truncated test_batch was accepted"
fi
grep -q "trunc/cifar-10-batches-py/test_batch: pickle offset [0-9]*: string longer than the rest of the pickle" trunc.txt ||
    fail "the error does not name the truncated file: $(tail -3 trunc.txt)"
echo "ok: CIFAR10 and CIFAR100 trained and validated; missing and truncated files refused by name"
