# EWA twin of upernet_swin-t_1xb4-cpu_camvid-112x112.py: 4 experts in every other Swin block (blocks
# numbered across stages: 6 of 12), EWA with beta=0.3.
_base_ = ['./upernet_swin-t_1xb4-cpu_camvid-112x112.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWASwinTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
