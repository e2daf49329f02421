# CPU-sized ViTDet-style Mask R-CNN (pretrained ViT-S/14 + SimpleFPN) on Weizmann Horse (262 train / 65 val
# real photos, one large horse each) at 224 px, one class, 4 epochs: detection evidence that learns on a CPU.
# The model and optimizer are the COCO128 CPU config's; Weizmann Horse has the same COCO layout
# (annotations/instances_{train,val}.json, images/). Baseline twin of
# mask-rcnn_ewa-vit-s14-simplefpn_1xb2-cpu_horse-224.py.
_base_ = ['./mask-rcnn_vit-s14-simplefpn_1xb2-cpu_coco128-336.py']
data_root = 'data/weizmann_horse/'
metainfo = dict(classes=('horse', ), palette=[(220, 20, 60)])
img_scale = (224, 224)
model = dict(backbone=dict(img_size=img_scale),
             roi_head=dict(bbox_head=dict(num_classes=1), mask_head=dict(num_classes=1)))
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
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
max_epochs = 4
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[3], gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
