# The plain-ViT baseline of Lee, Lee & Song, "Vision Transformer for Small-Size Datasets" (arXiv 2112.13492),
# trained from scratch on the complete CIFAR-100 (50,000 train images) at 32 px, on mmpretrain bases.
# Recipe: github.com/aanna0701/SPT_LSA_ViT main.py (defaults) + models/create_model.py ('vit' on 32 px):
#   ViT depth 9, 12 heads x 16 dims (192), MLP 384 (ratio 2), patch 4 (64 tokens + cls), stochastic depth 0.1;
#   100 epochs, batch 128, AdamW lr 1e-3 wd 0.05 (all parameters), 10 linear warm-up epochs then cosine;
#   label smoothing 0.1; CutMix (beta 1) or Mixup (alpha 1), one of them with probability 0.5 per batch;
#   repeated augmentation x3; flip + crop (pad 4); AutoAugment (CIFAR-10 policy); random erasing p 0.25,
#   area 0.02-0.4, aspect 0.3-3.3. Published target: see benchmarks/cls_cifar100_fast_path.md.
# AutoAugment: the CIFAR-10 policy in mmpretrain's format (../_base_/autoaugment_cifar10.py: torchvision's
# AutoAugmentPolicy.CIFAR10 and magnitude bins, nearest interpolation, grey fill).
# Deviations (mmpretrain's transforms): the AutoAugment ops are mmcv's (OpenCV) rather than PIL's
# (pixel-level differences, e.g. Sharpness also smooths the border pixels); RandomErasing draws the aspect
# log-uniformly with one try (Lee: uniform, up to 100 tries); the qkv projection has a bias.
# Baseline twin of ewa-vit-lee9-p4_1xb128-100e_cifar100-50k-32.py; the fast data path: ..._fast.py.
_base_ = ['mmpretrain::_base_/default_runtime.py', '../_base_/datasets/cifar100_50k.py',
          '../_base_/autoaugment_cifar10.py']
default_scope = 'mmpretrain'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='AutoAugment', policies={{_base_.autoaugment_cifar10}}),
    dict(type='RandomErasing', erase_prob=0.25, min_area_ratio=0.02, max_area_ratio=0.4,
         aspect_range=(0.3, 1 / 0.3), mode='const', fill_color={{_base_.bgr_mean}}),
    dict(type='PackInputs'),
]
data_root = '../shared/data/cifar100'
train_dataloader = dict(  # a list replaces its base list whole: both parts written out
    sampler=dict(type='RepeatAugSampler', num_repeats=3, shuffle=True),
    dataset=dict(datasets=[dict(type='CustomDataset', data_root=data_root, data_prefix=prefix,
                                pipeline=train_pipeline) for prefix in ('train', 'train_rest')]))
model = dict(
    type='ImageClassifier',
    backbone=dict(type='VisionTransformer', arch=dict(embed_dims=192, num_layers=9, num_heads=12,
                                                     feedforward_channels=384),
                  img_size=32, patch_size=4, drop_path_rate=0.1),
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=100, in_channels=192,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    init_cfg=[dict(type='TruncNormal', layer='Linear', std=.02),
              dict(type='Constant', layer='LayerNorm', val=1., bias=0.)],
    train_cfg=dict(augments=[dict(type='Mixup', alpha=1.0), dict(type='CutMix', alpha=1.0)],
                   probs=[0.25, 0.25]))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
max_epochs = 100
warmup_epochs = 10
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1),
                     logger=dict(type='LoggerHook', interval=50))
randomness = dict(seed=0)
