# tests/e2e/run_datasets.sh - MMPretrain's own ResNet-50 recipes for CUB, ImageNet-21k and ImageNet
# (tests/recipes/mmpretrain, unchanged; CUB's also with ColorJitter and RandomErasing) train two iterations on tests/datasets/fixtures.py's small folders, with
# data_root, batch and image sizes overridden by --cfg-options; a malformed CUB file stops the run naming the file
# and the line; settings MMPretrain refuses are refused at compile time.
# Usage: run_datasets.sh TGC SOURCE_DIR OUT_DIR
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
python3 "$SRC/tests/datasets/fixtures.py" make data || fail "building the fixtures"
R=$SRC/tests/recipes/mmpretrain
D=$PWD/data

# The log has epoch 1's second (last) iteration, with a finite loss (the recipes log every 20 or 100 iterations,
# and at the end of an epoch).
trained() {
    grep -Eq 'Epoch\(train\) +\[1\]\[2/2\] .*loss: [0-9]+\.[0-9]+$' "$1" || fail "$1: no iteration 2/2 with a loss: $(cat "$1")"
}

# CUB (train split: 4 images, test split: 3), Resize 600 / RandomCrop 448 made 40 / 32; the pretrained
# checkpoint of the recipe is an URL tgc does not download, so init_cfg is cleared.
CUB="model.backbone.init_cfg=None train_cfg.max_epochs=1 randomness.seed=3
 train_dataloader.batch_size=2 val_dataloader.batch_size=2 train_dataloader.num_workers=1
 train_dataloader.dataset.pipeline.1.scale=40 train_dataloader.dataset.pipeline.2.crop_size=32
 val_dataloader.dataset.pipeline.1.scale=40 val_dataloader.dataset.pipeline.2.crop_size=32"
# shellcheck disable=SC2086
"$TGC" train "$R/resnet50_8xb8_cub.yaml" --work-dir cub --device cpu --cfg-options $CUB \
    train_dataloader.dataset.data_root="$D/cub" val_dataloader.dataset.data_root="$D/cub" >cub.txt 2>&1 ||
    fail "CUB: $(tail -5 cub.txt)"
trained cub.txt
grep -q 'Epoch(val) \[1\]\[2/2\] *accuracy/top1: ' cub.txt || fail "CUB: no validation on the 3 test images: $(cat cub.txt)"

# ColorJitter and RandomErasing in the training pipeline: implemented, so nothing is listed (--strict), and trained.
# shellcheck disable=SC2086
"$TGC" train "$SRC/tests/datasets/cub_photometric.yaml" --strict --work-dir cubp --device cpu --cfg-options $CUB \
    train_dataloader.dataset.data_root="$D/cub" val_dataloader.dataset.data_root="$D/cub" >cubp.txt 2>&1 ||
    fail "CUB with ColorJitter and RandomErasing: $(tail -5 cubp.txt)"
trained cubp.txt

# A malformed CUB file stops the run before training, naming the file and the line.
cp -r data/cub cub_bad
printf '1 1\n2 1\n3 0\n4 2\n5 3\n6 3\n7 200\n' >cub_bad/image_class_labels.txt
# shellcheck disable=SC2086
if "$TGC" train "$R/resnet50_8xb8_cub.yaml" --work-dir cub2 --device cpu --cfg-options $CUB \
    train_dataloader.dataset.data_root="$PWD/cub_bad" val_dataloader.dataset.data_root="$PWD/cub_bad" >bad.txt 2>&1; then
    fail "a CUB label 0 was accepted"
fi
grep -q 'cub_bad/image_class_labels.txt:3: the label must be an integer in 1..200' bad.txt ||
    fail "the error does not name the file and line: $(tail -3 bad.txt)"

# ImageNet-21k (meta/train.txt found from split train; labels up to 21841 of the recipe's 21843 classes), no
# validation set in the recipe; --max-iters 2.
"$TGC" train "$R/resnet50_8xb128_coslr-90e_in21k.yaml" --work-dir in21k --device cpu --max-iters 2 --cfg-options \
    train_dataloader.dataset.data_root="$D/in21k" train_dataloader.batch_size=2 train_dataloader.num_workers=1 \
    train_dataloader.dataset.pipeline.1.scale=32 randomness.seed=3 >in21k.txt 2>&1 || fail "ImageNet21k: $(tail -5 in21k.txt)"
trained in21k.txt
"$TGC" compile "$R/resnet50_8xb128_coslr-90e_in21k.yaml" -o x.bin --cfg-options train_dataloader.dataset.multi_label=True \
    >ml.txt 2>&1 && fail "ImageNet21k's multi_label was accepted"
grep -q "multi_label: ImageNet21k's multi_label is not implemented" ml.txt || fail "multi_label: $(cat ml.txt)"

# ImageNet: a training folder of 3 classes needs their names (MMPretrain's ImageNet expects its 1000 class
# folders), the val split reads meta/val.txt.
IN="train_dataloader.dataset.data_root=$D/imagenet val_dataloader.dataset.data_root=$D/imagenet
 train_dataloader.batch_size=2 val_dataloader.batch_size=2 train_dataloader.dataset.pipeline.1.scale=32
 val_dataloader.dataset.pipeline.1.scale=36 val_dataloader.dataset.pipeline.2.crop_size=32 train_cfg.max_epochs=1
 randomness.seed=3"
# shellcheck disable=SC2086
"$TGC" train "$R/resnet50_8xb32_in1k.yaml" --work-dir in1k --device cpu --cfg-options $IN >in1k_1000.txt 2>&1 &&
    fail "ImageNet: a 3-class training folder was accepted"
grep -q 'has 3 class subfolders but the dataset has 1000 class names' in1k_1000.txt || fail "ImageNet: $(tail -3 in1k_1000.txt)"
# shellcheck disable=SC2086
"$TGC" train "$R/resnet50_8xb32_in1k.yaml" --work-dir in1k --device cpu --cfg-options $IN \
    "train_dataloader.dataset.metainfo.classes=[tench,goldfish,shark]" >in1k.txt 2>&1 || fail "ImageNet: $(tail -5 in1k.txt)"
trained in1k.txt
grep -q 'Epoch(val) \[1\]\[2/2\] *accuracy/top1: ' in1k.txt || fail "ImageNet: no validation: $(cat in1k.txt)"
echo "CUB, ImageNet21k and ImageNet recipes trained on the fixtures"
