_base_ = ['../../../../configs/_base_/default_runtime.py']
from mmpretrain.models import ResNet
model = dict(backbone=dict(type=ResNet))
