# tests/e2e/run_load_from.sh - fine-tuning from exported weights: a run's last checkpoint, taken to PyTorch's
# format by `tgc export` (.pth and .safetensors), given back as load_from, starts at that run's accuracy
# (checked with lr 0 for one epoch: LeNet5 has no BN statistics, so its weights do not move), and the log
# says which file it loaded; the same through model.init_cfg {type: Pretrained}. A torchvision:// name says tgc does not download.
. "$(dirname "$0")/lib.sh"
OPTS="$SMALL train_cfg.max_epochs=2"
acc() { grep 'Epoch(val)' "$1" | tail -1 | sed 's/.*accuracy\/top1: \([0-9.]*\).*/\1/'; }
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir a --cfg-options $OPTS optim_wrapper.optimizer.lr=0.1 >a.txt 2>&1 ||
    fail "first run: $(tail -3 a.txt)"
want=$(acc a.txt)
[ -n "$want" ] || fail "no accuracy in the first run"
# the same seed's initial weights, not trained: another accuracy (so the comparison below means something)
# shellcheck disable=SC2086
"$TGC" run lenet.bin --work-dir n --cfg-options $OPTS train_cfg.max_epochs=1 optim_wrapper.optimizer.lr=0 >n.txt 2>&1 ||
    fail "untrained run: $(tail -3 n.txt)"
[ "$(acc n.txt)" != "$want" ] || fail "the untrained weights already reach $want: the test cannot tell a load"
for fmt in pth safetensors; do
    "$TGC" export a/epoch_2.ckpt -o "w.$fmt" >export.txt 2>&1 || fail "export $fmt: $(cat export.txt)"
    # shellcheck disable=SC2086
    "$TGC" run lenet.bin --work-dir "b_$fmt" --cfg-options $OPTS train_cfg.max_epochs=1 optim_wrapper.optimizer.lr=0 \
        "load_from=w.$fmt" >"b_$fmt.txt" 2>&1 || fail "load_from w.$fmt: $(tail -3 "b_$fmt.txt")"
    grep -q "Load checkpoint from w.$fmt" "b_$fmt.txt" || fail "no 'Load checkpoint from w.$fmt'"
    grep -q "do not match" "b_$fmt.txt" && fail "a mismatch report for w.$fmt: $(grep -A3 'do not match' "b_$fmt.txt")"
    got=$(acc "b_$fmt.txt")
    [ "$got" = "$want" ] || fail "load_from w.$fmt started at accuracy $got, the exported run ended at $want"
    echo "ok: load_from w.$fmt: accuracy $got = the exported run's $want"
done
# The same file as the model's init_cfg (Pretrained): applied before training, reported in the log.
"$TGC" compile "$SRC/configs/fashion/lenet5_fashionmnist.yaml" -o init.bin --cfg-options model.init_cfg.type=Pretrained \
    model.init_cfg.checkpoint=w.pth 2>/dev/null || fail "compile with init_cfg"
# shellcheck disable=SC2086
"$TGC" run init.bin --work-dir i --cfg-options $OPTS train_cfg.max_epochs=1 optim_wrapper.optimizer.lr=0 >i.txt 2>&1 ||
    fail "init_cfg run: $(tail -3 i.txt)"
grep -q "Load checkpoint from w.pth" i.txt || fail "init_cfg: no 'Load checkpoint from w.pth'"
[ "$(acc i.txt)" = "$want" ] || fail "init_cfg Pretrained started at accuracy $(acc i.txt), want $want"
echo "ok: model.init_cfg Pretrained w.pth: accuracy $want"
# shellcheck disable=SC2086
if "$TGC" run lenet.bin --work-dir c --cfg-options $OPTS load_from=torchvision://resnet50 >c.txt 2>&1; then
    fail "load_from torchvision://resnet50 succeeded"
fi
grep -q "load_from: checkpoint 'torchvision://resnet50' names a model-zoo file that MMEngine would download; tgc does not download" c.txt ||
    fail "the torchvision:// message: $(tail -2 c.txt)"
echo "ok: torchvision:// explained"
