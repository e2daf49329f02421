# EWA twin of mask-rcnn_vit-s14-simplefpn_1xb4-12e_horse-448.py: 4 experts in every other ViT block.
_base_ = ['./mask-rcnn_vit-s14-simplefpn_1xb4-12e_horse-448.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
