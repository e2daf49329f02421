# EWA on mmseg's SegFormer-B0 (ADE20K, 160k): the ImageNet MiT-B0 checkpoint is upcycled into 4 experts in
# every other block (2 images per GPU < 4 experts: the depthwise MixFFN's experts take random cells of each
# batch's maps). Collapse with tools/convert_ewa.py, then test with the baseline twin.
_base_ = './segformer_mit-b0_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAMixVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
