# ResNet-152 on ImageNet-1k, 8 GPUs x 32 images (MMPretrain configs/resnet/resnet152_8xb32_in1k.py;
# YAML twin: resnet152_8xb32_in1k.yaml)
_base_ = [
    '../_base_/models/resnet152.py', '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256.py', '../_base_/default_runtime.py'
]
