# A small ViT (6 blocks, 192 dims, patch 4 -> 64 tokens) trained from scratch on CIFAR-100 at 32 px: the
# regime where the EWA paper reports its clearest gains (ViTs from scratch on small data). Baseline twin of
# ewa-vit-t-p4_1xb128-100e_cifar100-32.py. CPU-sized; on a GPU raise batch size / epochs freely.
_base_ = ['mmpretrain::_base_/default_runtime.py', '../_base_/datasets/cifar100_folders.py']
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='VisionTransformer', arch=dict(embed_dims=192, num_layers=6, num_heads=3,
                                                     feedforward_channels=768),
                  img_size=32, patch_size=4, drop_path_rate=0.1),
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=100, in_channels=192,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    init_cfg=[dict(type='TruncNormal', layer='Linear', std=.02),
              dict(type='Constant', layer='LayerNorm', val=1., bias=0.)])
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                                        custom_keys={'.cls_token': dict(decay_mult=0.0),
                                                     '.pos_embed': dict(decay_mult=0.0)}),
                     clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=100)]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2),
                     logger=dict(type='LoggerHook', interval=20))
randomness = dict(seed=0)
