# CPU-sized variant of mmdet's Swin-T Mask R-CNN (mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py, unchanged model) on
# COCO128 (96 train / 32 val images) at 320 px: baseline twin of mask-rcnn_ewa-swin-t-p4-w7_fpn_1xb2-cpu_...
# No ImageNet Swin-T weights are available offline, so the backbone starts from scratch; set
# model.backbone.init_cfg=dict(type='Pretrained', checkpoint=...) to start from yours. From scratch, 96 images
# and a short schedule train the pipeline, not a useful detector (mAP near 0): use it for smoke runs.
_base_ = './mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
data_root = 'data/coco128/'
img_scale = (320, 320)
model = dict(backbone=dict(init_cfg=None))
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),  # one COCO128 image is greyscale
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=2, num_workers=2, dataset=dict(
    data_root=data_root, ann_file='annotations/instances_train.json', data_prefix=dict(img='images/'),
    pipeline=train_pipeline))
val_dataloader = dict(num_workers=2, dataset=dict(
    data_root=data_root, ann_file='annotations/instances_val.json', data_prefix=dict(img='images/'),
    pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[9, 11], gamma=0.1),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_epochs))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
auto_scale_lr = dict(enable=False)
