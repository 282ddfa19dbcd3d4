# MMDetection 3.x's AMP variants: only the optimizer wrapper's type changes in the base
_base_ = '../../../../configs/fashion/lenet5_fashionmnist.py'
_base_.optim_wrapper.optimizer.lr = 0.02
lr = {{_base_.optim_wrapper.optimizer.lr}} * 2
train_dataloader = dict(batch_size=_base_.train_dataloader.batch_size // 2)
