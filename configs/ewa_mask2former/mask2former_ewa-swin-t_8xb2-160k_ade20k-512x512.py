# EWA on mmseg's Swin-T Mask2Former (ADE20K, 160k): 4 experts in every other Swin block (6 of 12) and in every
# other FFN of the head (pixel-decoder encoder layers 0-5, then transformer-decoder layers 6-14: 7 of 15).
# Collapse with tools/convert_ewa.py, then test with the baseline twin.
_base_ = './mask2former_swin-t_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(
    backbone=dict(type='EWASwinTransformer', ewa_cfg=dict(num_experts=4, moe_layers='every_other')),
    decode_head=dict(type='EWAMask2FormerHead', ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
