# EWA twin of mask2former_swin-d32_1xb4-cpu_camvid-112x112.py: 4 experts in every other Swin block (4 of 8)
# and in every other FFN of the head (pixel-decoder encoder layers 0-1, then transformer-decoder layers 2-4:
# layers 1 and 3), one EWAHook with beta=0.3 for both.
_base_ = ['./mask2former_swin-d32_1xb4-cpu_camvid-112x112.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(
    backbone=dict(type='EWASwinTransformer', ewa_cfg=dict(num_experts=4, moe_layers='every_other')),
    decode_head=dict(type='EWAMask2FormerHead', ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
