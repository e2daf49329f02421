# EWA on mmdet's DINO (R-50, 4 scales, 12e): 4 experts in every other transformer FFN (encoder layers
# 0-5, then decoder layers 6-11: 6 of 12); the ResNet backbone has no FFN. Collapse with
# tools/convert_ewa.py, then test with the baseline twin.
_base_ = './dino-4scale_r50_8xb2-12e_coco.py'
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(type='EWADINO', ewa_cfg=dict(num_experts=4, moe_layers='every_other'))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
