# LeNet-5: the backbone classifies itself, the head only computes the loss (the model of MMPretrain's
# configs/lenet/lenet5_mnist.py; YAML twin: lenet5.yaml)
# model settings
model = dict(
    type='ImageClassifier',
    backbone=dict(type='LeNet5', num_classes=10),
    neck=None,
    head=dict(
        type='ClsHead',
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
