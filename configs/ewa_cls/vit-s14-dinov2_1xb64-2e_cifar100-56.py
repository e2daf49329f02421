# Fine-tuning a pretrained ViT-S/14 (DINOv2-style, 22 M parameters) on CIFAR-100 at 56 px, on mmpretrain
# bases: the regime where a pretrained model learns to high accuracy within CPU reach (issue #31). 10,000
# train images (the first 100 of each class, ../shared/data/cifar100/train), the complete 10,000-image test
# set; CIFAR's 32 px images are upsampled to 56 px, a 4 x 4 grid of 14-px patches (+ cls token).
# Backbone: mmpretrain's VisionTransformer(arch='dinov2-small') from the checkpoint that
#   python tools/model_converters/convert_dinov2_onnx.py --layout mmpretrain
# (-> checkpoints/dinov2_vits14_mmpretrain.pth)
# writes (LayerScale folded into the linears, so layer_scale_init_value=0; pos_embed resized 37x37 -> 4x4 on
# load, bicubic). Features: the final-LayerNorm patch tokens, globally average-pooled, then a linear head
# ('featmap' + GlobalAveragePooling rather than out_type='avg_featmap', whose extra LayerNorm would be freshly
# initialised).
# Recipe, after mmpretrain's BEiT/MAE fine-tuning configs scaled to a short run: AdamW lr 5e-4 (batch 64),
# weight decay 0.05 (none on norms, biases, cls_token, pos_embed), layer-wise lr decay 0.75
# (LearningRateDecayOptimWrapperConstructor, which uses the backbone's get_layer_depth), linear warm-up
# (50 iterations) then cosine to 1e-6, 2 epochs (314 iterations), label smoothing 0.1, stochastic depth 0.1;
# light augmentation: crop with 4-px padding and horizontal flip at 32 px, then the resize to 56 px.
# Why 2 epochs: one iteration (fwd + bwd + AdamW, batch 64) takes ~4.5 s on one core of the project's CPU
# machine, so 2 epochs are ~25 min a run and 5 paired seeds with their tests ~2.7 h on 2 cores.
# Linear probe on the same features: vit-s14-dinov2-linear_1xb64-2e_cifar100-56.py; at 224 px (for a GPU):
# vit-s14-dinov2_1xb64-5e_cifar100-224.py.
# EWA twin: ewa-vit-s14-dinov2_1xb64-2e_cifar100-56.py. Compared over 5 paired seeds in
# benchmarks/cls_cifar100_vit-s14-dinov2_finetune_cpu.md.
_base_ = ['mmpretrain::_base_/default_runtime.py', '../_base_/datasets/cifar100_folders.py']
default_scope = 'mmpretrain'
img_size = 56
pretrained = 'checkpoints/dinov2_vits14_mmpretrain.pth'
data_root = '../shared/data/cifar100'
data_preprocessor = dict(num_classes=100, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         to_rgb=True)  # ImageNet statistics, RGB: what the DINOv2 weights expect
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
train_dataloader = dict(batch_size=64, num_workers=1,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
test_dataloader = dict(batch_size=250, num_workers=1,
                       dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_dataloader = test_dataloader
model = dict(
    type='ImageClassifier',
    backbone=dict(type='VisionTransformer', arch='dinov2-small', img_size=img_size, patch_size=14,
                  qkv_bias=True, with_cls_token=True, final_norm=True, layer_scale_init_value=0.,
                  norm_cfg=dict(type='LN', eps=1e-6), interpolate_mode='bicubic', out_type='featmap',
                  drop_path_rate=0.1, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=100, in_channels=384,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
              init_cfg=dict(type='TruncNormal', layer='Linear', std=2e-5)))
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05, betas=(0.9, 0.999)),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75, norm_decay_mult=0., bias_decay_mult=0., flat_decay_mult=0.,
                       custom_keys={'.cls_token': dict(decay_mult=0.), '.pos_embed': dict(decay_mult=0.)}))
max_epochs = 2
warmup_epochs = 0.32  # 50 of an epoch's 157 iterations (10,000 images in batches of 64, the last one 16)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
                     logger=dict(type='LoggerHook', interval=20))
randomness = dict(seed=0)
