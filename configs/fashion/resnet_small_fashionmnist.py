# tgc's default config: a small CIFAR-style ResNet-18 (3 stages of 2 BasicBlocks, widths 16/32/64) on
# Fashion-MNIST's 1x28x28 images; SGD with Nesterov momentum, a linear warm-up then cosine annealing
# (YAML twin: resnet_small_fashionmnist.yaml).
_base_ = ['../_base_/datasets/fashion_mnist_bs128.py', '../_base_/default_runtime.py']

# model settings
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        in_channels=1,
        stem_channels=16,
        base_channels=16,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, ) * 3,
        out_indices=(2, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=16 * 2**2,
        # label smoothing steadies the short schedule (10 epochs) and gains a few tenths of top-1
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original', loss_weight=1.0)))

# schedule settings
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0005))

param_scheduler = [
    # linear warm-up over the first epoch, updated every iteration
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    # cosine annealing over the remaining epochs
    dict(type='CosineAnnealingLR', T_max=10 - 1, by_epoch=True, begin=1, end=10),
]

train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(logger=dict(type='LoggerHook', interval=50))

auto_scale_lr = dict(base_batch_size=128)
