# A tiny Swin Mask R-CNN on COCO128 (160x120 images, CPU seconds per iteration): the *standard* twin
# of det_ewa_swin_tiny.py. Used by the tests; too small to learn much.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', '../_base_/datasets/coco128_instance.py',
          'mmdet::_base_/default_runtime.py']
img_scale = (160, 120)
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(
    backbone=dict(_delete_=True, type='SwinTransformer', embed_dims=32, depths=(2, 2), num_heads=(1, 2),
                  strides=(4, 2), out_indices=(0, 1), window_size=4, drop_path_rate=0.1, patch_norm=True),
    neck=dict(in_channels=[32, 64], out_channels=32, num_outs=5),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=32), mask_roi_extractor=dict(out_channels=32),
                  bbox_head=dict(in_channels=32, fc_out_channels=64),
                  mask_head=dict(in_channels=32, conv_out_channels=32, num_convs=2)),
    # an untrained detector scores ~1/81 per class: keep them so the tests compare real detections
    test_cfg=dict(rcnn=dict(score_thr=0.0, max_per_img=20)))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05))
param_scheduler = []
# Validation is defined (upstream tools such as mmdet's get_flops.py read val_dataloader) but begins after
# this 30-iteration schedule; --cfg-options train_cfg.val_begin=1 train_cfg.val_interval=10 turns it on.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=30, val_interval=1000, val_begin=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(by_epoch=False, interval=30),
                     visualization=dict(draw=False))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
