# EWA on mmseg's DeiT-B/16 UperNet (ADE20K, 160k): the standard DeiT checkpoint is upcycled into
# 4 experts in every other block. Collapse with tools/convert_ewa.py, then test with the baseline twin.
_base_ = './upernet_vit-b16_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
