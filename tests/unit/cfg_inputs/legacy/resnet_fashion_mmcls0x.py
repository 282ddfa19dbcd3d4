# A CIFAR-style ResNet on Fashion-MNIST written in MMClassification 0.x's schema (the shape of mmcls 0.x's
# configs/_base_/datasets/cifar10_bs16.py, schedules/cifar10_bs128.py and default_runtime.py: `data`,
# img_norm_cfg + Normalize, the formatting steps, `optimizer`, `optimizer_config`, `lr_config`, `runner`,
# `checkpoint_config`, `log_config`, `evaluation`). Twin: resnet_fashion_mmpretrain1x.yaml, the same
# config in MMPretrain 1.x's schema.
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
        dilations=(1, 1, 1),
        out_indices=(2, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))

# dataset settings
dataset_type = 'FashionMNIST'
img_norm_cfg = dict(mean=[72.94], std=[90.02], to_rgb=False)
train_pipeline = [
    dict(type='RandomCrop', size=28, padding=2),
    dict(type='RandomFlip', flip_prob=0.5, direction='horizontal'),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label'])
]
test_pipeline = [
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='Collect', keys=['img'])
]
data_prefix = '/usr/share/datasets/fashion-mnist'
data = dict(
    samples_per_gpu=32,
    workers_per_gpu=2,
    train=dict(type=dataset_type, data_prefix=data_prefix, pipeline=train_pipeline),
    val=dict(type=dataset_type, data_prefix=data_prefix, pipeline=test_pipeline, test_mode=True),
    test=dict(type=dataset_type, data_prefix=data_prefix, pipeline=test_pipeline, test_mode=True))
evaluation = dict(interval=1, metric='accuracy', metric_options=dict(topk=(1, )))

# optimizer
optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
# learning policy
lr_config = dict(policy='step', step=[100, 150], warmup='linear', warmup_iters=100, warmup_ratio=0.1)
runner = dict(type='EpochBasedRunner', max_epochs=200)

# checkpoint saving
checkpoint_config = dict(interval=1, max_keep_ckpts=2)
# yapf:disable
log_config = dict(
    interval=100,
    hooks=[
        dict(type='TextLoggerHook'),
        dict(type='TensorboardLoggerHook')
    ])
# yapf:enable

dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
