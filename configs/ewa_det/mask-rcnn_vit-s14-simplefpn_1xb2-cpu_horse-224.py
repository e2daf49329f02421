# CPU-sized ViTDet-style Mask R-CNN (pretrained ViT-S/14 + SimpleFPN, one class) on Weizmann Horse
# (262 train / 65 val real photos, one large horse each) at 224 px: detection evidence that learns on a CPU.
# Baseline twin of mask-rcnn_ewa-vit-s14-simplefpn_1xb2-cpu_horse-224.py; the model is the COCO128 CPU one.
_base_ = ['../_base_/models/mask-rcnn_vit-s14_simple-fpn.py', '../_base_/datasets/weizmann_horse_instance.py',
          'mmdet::_base_/default_runtime.py']
img_scale = (224, 224)
# CPU-sized: 128-channel heads, 256 sampled RoIs, and no stride-3.5 level
strides = [7, 14, 28]
model = dict(
    backbone=dict(img_size=img_scale),
    neck=dict(out_channels=128, scales=(2, 1, 0.5), num_outs=4),
    rpn_head=dict(in_channels=128, feat_channels=128, anchor_generator=dict(strides=strides + [56])),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=128, featmap_strides=strides),
                  mask_roi_extractor=dict(out_channels=128, featmap_strides=strides),
                  bbox_head=dict(in_channels=128, fc_out_channels=512, num_classes=1),
                  mask_head=dict(in_channels=128, conv_out_channels=128, num_classes=1)),
    train_cfg=dict(rcnn=dict(sampler=dict(num=256))))
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
train_dataloader = dict(batch_size=2, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
max_epochs = 4
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=0.25), pos_embed=dict(decay_mult=0.0),
                                        cls_token=dict(decay_mult=0.0), norm=dict(decay_mult=0.0))))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[3], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_epochs))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=16)
