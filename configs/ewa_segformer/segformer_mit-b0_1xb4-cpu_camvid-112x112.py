# CPU-sized SegFormer-B0 (MiT-B0 + SegformerHead) on CamVid from scratch: the *baseline* twin of
# segformer_ewa-mit-b0_1xb4-cpu_camvid-112x112.py (same everything, standard backbone, no EWAHook).
# 112x112 crops, batch 4, BN (one process); no pretrained weights (nothing is downloaded).
_base_ = ['mmseg::_base_/models/segformer_mit-b0.py', '../_base_/datasets/camvid_cpu-112x112.py',
          '../_base_/schedules/schedule_500it_cpu.py',
          'mmseg::_base_/default_runtime.py']
crop_size = (112, 112)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(channels=128, num_classes=11, norm_cfg=norm_cfg))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys=dict(pos_block=dict(decay_mult=0.0), norm=dict(decay_mult=0.0))))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
