# Fashion-MNIST (28x28 grey images, 10 classes), 128 images per GPU: tgc's own base in the shape of
# MMPretrain's dataset bases (YAML twin: fashion_mnist_bs128.yaml). data_prefix is where Debian's
# dataset-fashion-mnist package installs the gzipped IDX files.
# dataset settings
dataset_type = 'FashionMNIST'
data_preprocessor = dict(
    num_classes=10,
    # the Fashion-MNIST training set's pixel mean and std (0.2860 and 0.3530 of 255)
    mean=[72.94],
    std=[90.02])

train_pipeline = [
    dict(type='RandomCrop', crop_size=28, padding=2),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_prefix='/usr/share/datasets/fashion-mnist',
        test_mode=False,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=128,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_prefix='/usr/share/datasets/fashion-mnist',
        test_mode=True,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
