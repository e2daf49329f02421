# Weizmann Horse as COCO instance segmentation: real photos, one large `horse` instance each, 262 train /
# 65 val (a fixed random split, see ../shared/data/weizmann_horse/README.md). Detection that learns on a CPU.
# Put it at data/weizmann_horse or override data_root (and the evaluators' ann_file):
#   --cfg-options train_dataloader.dataset.data_root=PATH/ val_dataloader.dataset.data_root=PATH/ \
#       test_dataloader.dataset.data_root=PATH/ val_evaluator.ann_file=PATH/annotations/instances_val.json \
#       test_evaluator.ann_file=PATH/annotations/instances_val.json
_base_ = 'mmdet::_base_/datasets/coco_instance.py'
data_root = 'data/weizmann_horse/'
metainfo = dict(classes=('horse', ), palette=[(220, 20, 60)])
img_scale = (640, 480)
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color'),
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
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo,
                                     ann_file='annotations/instances_train.json',
                                     data_prefix=dict(img='images/'), pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo,
                                   ann_file='annotations/instances_val.json',
                                   data_prefix=dict(img='images/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
