# The EWA twin of seg_vit_tiny.py: the three lines a user changes.
_base_ = ['./seg_vit_tiny.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3, spread_interval=10)]
