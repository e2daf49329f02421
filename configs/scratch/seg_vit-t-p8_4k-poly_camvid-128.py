# GPU-sized segmentation from scratch on CamVid (issue #14 item 2 at a larger scale,
# .dev_scripts/gpu_evidence.sh): a ViT-T-like backbone (6 blocks, 192 dims, 3 heads, patch 8 -> 256 tokens on
# 128x128 crops) with the demo's FCN head, trained from scratch for 4,000 iterations of batch 8 (~87 epochs of
# CamVid's 367 training images) with a poly learning rate. Baseline twin of
# seg_ewa_vit-t-p8_4k-poly_camvid-128.py. Unmeasured on a GPU: sized from the CPU twin
# (seg_vit-tiny_6k-poly_camvid-64.py, which converges after ~4,000 iterations of batch 2); too slow for 2 CPU
# cores.
_base_ = ['./seg_vit-tiny_6k-poly_camvid-64.py']
crop_size = (128, 128)
scale = (240, 180)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='RandomResize', scale=scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True,
                        dataset=dict(pipeline=train_pipeline))
test_dataloader = dict(num_workers=2, persistent_workers=True, dataset=dict(pipeline=test_pipeline))
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size, patch_size=8, embed_dims=192, num_layers=6, num_heads=3, mlp_ratio=4,
                  out_indices=(3, 5)),
    decode_head=dict(in_channels=192, in_index=1, channels=128),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(96, 96)))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=200),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=200, end=4000, by_epoch=False)]
train_cfg = dict(max_iters=4000, val_interval=500)
default_hooks = dict(checkpoint=dict(interval=4000), logger=dict(interval=100))
