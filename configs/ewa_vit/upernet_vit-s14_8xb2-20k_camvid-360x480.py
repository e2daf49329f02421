# Paper-scale (GPU) fine-tuning of the pretrained ViT-S/14 on CamVid at full SegNet resolution: the
# baseline twin of upernet_ewa-vit-s14_8xb2-20k_camvid-360x480.py. 8 GPUs x 2 images, 20k iterations.
_base_ = ['./upernet_vit-s14_1xb4-cpu_camvid-112x112.py']
crop_size = (360, 480)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size, drop_path_rate=0.1),
    neck=dict(out_channels=384),
    decode_head=dict(in_channels=[384, 384, 384, 384], channels=512, norm_cfg=norm_cfg),
    auxiliary_head=dict(_delete_=True, type='FCNHead', in_channels=384, in_index=2, channels=256, num_convs=1,
                        concat_input=False, dropout_ratio=0.1, num_classes=11, norm_cfg=norm_cfg,
                        align_corners=False,
                        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='RandomResize', scale=(480, 360), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(480, 360), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=4, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(num_workers=4, dataset=dict(pipeline=test_pipeline))
max_iters = 20000
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2000)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=2000, max_keep_ckpts=2))
env_cfg = dict(cudnn_benchmark=True, dist_cfg=dict(backend='nccl'))
