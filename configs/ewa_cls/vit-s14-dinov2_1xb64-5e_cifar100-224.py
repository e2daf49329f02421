# The fine-tuning comparison of vit-s14-dinov2_1xb64-2e_cifar100-56.py at the resolution the ViT-S/14 was
# pretrained for: CIFAR-100's 32 px images upsampled to 224 px (16 x 16 patches), 5 epochs (1 of warm-up),
# everything else the same. ~16x the compute of the 56-px run per image: for a GPU
# (.dev_scripts/device_checks.sh, stage ft, carries the checkpoint; docs/device_checks.md).
_base_ = ['./vit-s14-dinov2_1xb64-2e_cifar100-56.py']
img_size = 224
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='Resize', scale=(img_size, img_size), interpolation='bicubic'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size), interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
val_dataloader = test_dataloader
model = dict(backbone=dict(img_size=img_size))
max_epochs = 5
warmup_epochs = 1
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
