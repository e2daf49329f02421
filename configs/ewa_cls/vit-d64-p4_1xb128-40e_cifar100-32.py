# The CPU-sized ViT for the CIFAR-100 from-scratch evidence (6 blocks, 64 dims, 2 heads, patch 4 -> 64 tokens,
# 0.3 M parameters; 24 s per epoch on one CPU core), 40 epochs with a cosine schedule. Baseline twin of
# ewa-vit-d64-p4_1xb128-40e_cifar100-32.py; the 192-dim vit-t-p4 config is the GPU-sized one.
_base_ = ['./vit-t-p4_1xb128-100e_cifar100-32.py']
model = dict(backbone=dict(arch=dict(embed_dims=64, num_layers=6, num_heads=2, feedforward_channels=256)),
             head=dict(in_channels=64))
max_epochs = 40
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=max_epochs)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=1))
