# The complete CIFAR-100 train set (50,000 images) as two class-folder trees of PNGs, concatenated:
#   train/<NNN_name>/*.png (the first 100 of each class) + train_rest/<NNN_name>/*.png (the other 400),
# and the official 10,000-image test set test/<NNN_name>/*.png (mmpretrain CustomDataset layout).
# data_root points at ../shared/data/cifar100 on the project's machines; override it for your copy:
#   --cfg-options train_dataloader.dataset.datasets.0.data_root=PATH \
#                 train_dataloader.dataset.datasets.1.data_root=PATH test_dataloader.dataset.data_root=PATH
# Images are loaded BGR (LoadImageFromFile); the mean/std are CIFAR-100's RGB statistics, so to_rgb=True.
data_root = '../shared/data/cifar100'
dataset_type = 'CustomDataset'
data_preprocessor = dict(num_classes=100, mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418],
                         to_rgb=True)
bgr_mean = [112, 124, 129]  # RandomErasing's fill (the pixel mean, in the images' BGR order)
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
    dataset=dict(type='ConcatDataset', datasets=[
        dict(type=dataset_type, data_root=data_root, data_prefix='train', pipeline=train_pipeline),
        dict(type=dataset_type, data_root=data_root, data_prefix='train_rest', pipeline=train_pipeline)]))
test_dataloader = dict(
    batch_size=256, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='test', pipeline=test_pipeline))
test_evaluator = dict(type='Accuracy', topk=(1, 5))
val_dataloader = None
val_evaluator = None
val_cfg = None
