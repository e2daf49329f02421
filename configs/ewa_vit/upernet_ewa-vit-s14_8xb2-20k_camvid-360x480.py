# EWA twin of upernet_vit-s14_8xb2-20k_camvid-360x480.py (paper scale, GPUs).
_base_ = ['./upernet_vit-s14_8xb2-20k_camvid-360x480.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
