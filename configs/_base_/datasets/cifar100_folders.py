# CIFAR-100 as class folders of PNGs (mmpretrain CustomDataset):
#   train/<NNN_name>/*.png, test/<NNN_name>/*.png.
# data_root points at ../shared/data/cifar100 on the project's machines (10,000 train = the first 100 images
# of each class, and the complete 10,000-image test set); override it for your copy:
#   --cfg-options train_dataloader.dataset.data_root=PATH test_dataloader.dataset.data_root=PATH
data_root = 'data/cifar100'
dataset_type = 'CustomDataset'
data_preprocessor = dict(num_classes=100, mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418],
                         to_rgb=False)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=128, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='train', pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=256, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='test', pipeline=test_pipeline))
test_evaluator = dict(type='Accuracy', topk=(1, 5))
val_dataloader = test_dataloader
val_evaluator = test_evaluator
