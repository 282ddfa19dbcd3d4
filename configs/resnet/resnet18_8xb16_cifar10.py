# ResNet-18 on CIFAR-10, 8 GPUs x 16 images (MMPretrain configs/resnet/resnet18_8xb16_cifar10.py; YAML
# twin: resnet18_8xb16_cifar10.yaml)
_base_ = [
    '../_base_/models/resnet18_cifar.py', '../_base_/datasets/cifar10_bs16.py',
    '../_base_/schedules/cifar10_bs128.py', '../_base_/default_runtime.py'
]
