# CPU-sized DINO on Weizmann Horse (262 train / 65 val photos, one horse each) at 224 px, one class: mmdet's
# DINO with a ResNet-18 (from scratch: no weights ship with mmewa) and a short transformer (2 encoder + 2
# decoder layers, FFN 512, 30 queries, 10 denoising queries; DINO's decoder fixes 256 dims). The baseline
# twin of ewa-dino-4scale_r18-ffn512_1xb2-cpu_horse-224.py. On CPU the deformable attention runs mmcv's
# pure-PyTorch path; DINO needs no NMS.
_base_ = ['./dino-4scale_r50_8xb2-12e_coco.py']
data_root = 'data/weizmann_horse/'
metainfo = dict(classes=('horse', ), palette=[(220, 20, 60)])
img_scale = (224, 224)
dims = 256  # DINO's query-position encoding (coordinate_to_encoding) is 4 x 128 = 2 x 256
model = dict(
    num_queries=30,
    backbone=dict(depth=18, frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
                  init_cfg=None),
    neck=dict(in_channels=[128, 256, 512], out_channels=dims),
    encoder=dict(num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=2 * dims))),
    decoder=dict(num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=2 * dims))),
    bbox_head=dict(num_classes=1),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=10)),
    test_cfg=dict(max_per_img=30))
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.8, 1.2), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
_split = dict(data_root=data_root, metainfo=metainfo, data_prefix=dict(img='images/'))
train_dataloader = dict(batch_size=2, num_workers=2,
                        dataset=dict(**_split, ann_file='annotations/instances_train.json',
                                     pipeline=train_pipeline))
val_dataloader = dict(num_workers=2, dataset=dict(**_split, ann_file='annotations/instances_val.json',
                                                  pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
max_epochs = 4
optim_wrapper = dict(optimizer=dict(lr=2e-4), paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[3], gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
auto_scale_lr = dict(enable=False)
