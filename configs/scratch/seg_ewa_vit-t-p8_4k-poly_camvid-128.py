# The EWA twin of seg_vit-t-p8_4k-poly_camvid-128.py (4 experts in every other block, beta 0.3).
_base_ = ['./seg_vit-t-p8_4k-poly_camvid-128.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3, spread_interval=100)]
