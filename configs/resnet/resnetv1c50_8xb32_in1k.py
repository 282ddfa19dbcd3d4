# ResNetV1c-50 on ImageNet-1k, 8 GPUs x 32 images (MMPretrain configs/resnet/resnetv1c50_8xb32_in1k.py;
# YAML twin: resnetv1c50_8xb32_in1k.yaml)
_base_ = [
    '../_base_/models/resnetv1c50.py',
    '../_base_/datasets/imagenet_bs32_pil_resize.py',
    '../_base_/schedules/imagenet_bs256.py', '../_base_/default_runtime.py'
]
