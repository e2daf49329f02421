# COCO128-seg: the first 128 COCO train2017 images with instance polygons, split 96 train / 32 val.
# Official COCO category ids and names, so mmdet's CocoDataset and CocoMetric work unchanged.
# Put it at data/coco128 or override data_root (and the evaluators' ann_file), see README.
_base_ = 'mmdet::_base_/datasets/coco_instance.py'
data_root = 'data/coco128/'
img_scale = (640, 480)
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
train_dataloader = dict(dataset=dict(data_root=data_root, ann_file='annotations/instances_train.json',
                                     data_prefix=dict(img='images/'), pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, ann_file='annotations/instances_val.json',
                                   data_prefix=dict(img='images/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
