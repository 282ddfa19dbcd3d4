_base_ = ['./base1.py', './base2.yaml']
lr = 0.1 * 2
model = dict(type='ImageClassifier', backbone=dict(depth=18, out_indices=(3,)), head=dict(num_classes=10))
optim_wrapper = dict(optimizer=dict(lr=lr, momentum=0.9), _delete_=True)
img_scales = [(224, 224), (256, 256)]
pipeline = [dict(type='Resize', scale=s) for s in img_scales]
mean = [round(x * 255) for x in [0.485, 0.456, 0.406]][::-1]
_base_.train_cfg.max_epochs = 3
%%%
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
data_root = 'data/'
ann = data_root + 'annotations/x.json'
%%%
default_hooks:
  logger: {type: LoggerHook, interval: 100}
