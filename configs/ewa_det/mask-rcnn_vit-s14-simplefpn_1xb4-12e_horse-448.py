# GPU-sized twin of the CPU horse config (.dev_scripts/gpu_evidence.sh, issue #14 item 3 at a larger scale):
# the same pretrained ViT-S/14 + SimpleFPN Mask R-CNN on Weizmann Horse, at 448 px, batch 4, 12 epochs (lr
# steps at 8 and 11). Needs mmcv built with CUDA ops (RoIAlign, NMS) on a GPU. Unmeasured on a GPU. Baseline
# twin of mask-rcnn_ewa-vit-s14-simplefpn_1xb4-12e_horse-448.py.
_base_ = ['./mask-rcnn_vit-s14-simplefpn_1xb2-cpu_horse-224.py']
img_scale = (448, 448)
model = dict(backbone=dict(img_size=img_scale))
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.8, 1.2), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
max_epochs = 12
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
