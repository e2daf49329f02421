# CPU-sized fine-tuning of the pretrained ViT-S/14 on CamVid: the *baseline* twin of
# upernet_ewa-vit-s14_1xb4-cpu_camvid-112x112.py (same everything, standard backbone, no EWAHook).
# A light UperNet (128 channels, BN, no auxiliary head), 112x112 crops, batch 4; runs on 2 CPU cores.
# Pretrained weights: python tools/model_converters/convert_dinov2_onnx.py
# (-> checkpoints/dinov2_vits14_mmseg.pth)
_base_ = ['../_base_/models/upernet_vit-s14.py', '../_base_/datasets/camvid_cpu-112x112.py',
          '../_base_/schedules/schedule_500it_cpu.py',
          'mmseg::_base_/default_runtime.py']
crop_size = (112, 112)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size),
    neck=dict(out_channels=128),
    decode_head=dict(in_channels=[128, 128, 128, 128], channels=128, num_classes=11, norm_cfg=norm_cfg),
    auxiliary_head=None)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=0.25), pos_embed=dict(decay_mult=0.0),
                                        cls_token=dict(decay_mult=0.0), norm=dict(decay_mult=0.0))))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
