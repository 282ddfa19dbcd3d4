# tests/e2e/run_precise_bn.sh - PreciseBNHook: after the epoch, every running mean and variance is the
# average over num_samples // batch training batches of that batch's statistics, as PyTorch's cumulative
# average computes them (checked against the torch twin of the model, tests/numerics/torch_models.py, on
# the same images with the epoch's weights); the parameters are those of the same run without the hook.
. "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c 'import torch, numpy' 2>/dev/null || missing "PyTorch (python3-torch) for the reference statistics"

cat >pbn.yaml <<YAML
_base_: $SRC/configs/fashion/resnet_small_fashionmnist.yaml
train_dataloader:
  dataset:
    pipeline: [{type: PackInputs}]
custom_hooks: [{type: PreciseBNHook, num_samples: 300, interval: 1, priority: ABOVE_NORMAL}]
YAML
sed '/^custom_hooks:/d' pbn.yaml >plain.yaml
for n in pbn plain; do
    "$TGC" compile $n.yaml -o $n.bin >${n}_compile.txt 2>&1 || fail "compile $n: $(tail -3 ${n}_compile.txt)"
done
! grep -q "warning" pbn_compile.txt || fail "PreciseBNHook listed as not implemented: $(cat pbn_compile.txt)"
"$TGC" inspect pbn.bin | grep -q "precise_bn (batch 128," || fail "no precise_bn program"

OPTS="$SMALL train_cfg.max_epochs=1 train_dataloader.sampler.shuffle=False default_hooks.logger.interval=1"
for n in pbn plain; do
    # shellcheck disable=SC2086
    "$TGC" run $n.bin --work-dir $n --no-validate --cfg-options $OPTS >$n.txt 2>&1 || fail "$n run: $(tail -3 $n.txt)"
done
grep -q "Running Precise BN for 2 iterations" pbn.txt || fail "no precise BN line: $(grep -m1 -i precise pbn.txt)"

PYTHONPATH="$SRC/tests/numerics" /usr/bin/python3 - "$TGC" "$DATA" <<'PY' || fail "the statistics"
import gzip, sys
import numpy as np
import torch
import tgc_ckpt, torch_models

tgc, data = sys.argv[1], sys.argv[2]
cfg = torch_models.load_config(tgc, "pbn.yaml", "twin.bin")
end, plain = tgc_ckpt.load("pbn/epoch_1.ckpt")[0], tgc_ckpt.load("plain/epoch_1.ckpt")[0]
model = torch_models.build(cfg)
state = model.state_dict()
n_bn = 0
for k in state:
    if k.endswith("num_batches_tracked"):
        continue
    if k.endswith("running_mean") or k.endswith("running_var"):
        n_bn += 1
        assert not np.array_equal(end[k], plain[k]), k  # the hook changed them
    else:
        assert np.array_equal(end[k], plain[k]), k  # and nothing else
    state[k] = torch.from_numpy(end[k].copy())
model.load_state_dict(state)
for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.reset_running_stats()
        m.momentum = None  # the cumulative average of MMEngine's update_bn_stats
model.train()
with gzip.open(data + "/train-images-idx3-ubyte.gz") as f:
    img = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:256].astype(np.float32)
x = (torch.from_numpy(img) - 72.94) / 90.02  # the config's data_preprocessor mean and std
with torch.no_grad():
    for b in range(2):  # num_samples 300 // batch 128
        model(x[b * 128:(b + 1) * 128])
worst = 0.0
for k, v in model.state_dict().items():
    if k.endswith("running_mean") or k.endswith("running_var"):
        ref = v.numpy()
        worst = max(worst, float(np.abs(end[k] - ref).max() / max(np.abs(ref).max(), 1e-30)))
assert worst < 1e-5, worst
print("ok: %d running buffers, worst relative error %.2g" % (n_bn, worst))
PY
echo ok
