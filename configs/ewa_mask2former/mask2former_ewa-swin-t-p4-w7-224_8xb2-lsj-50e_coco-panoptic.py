# EWA on mmdet's Swin-T Mask2Former (COCO panoptic, 50e): 4 experts in every other Swin block and in
# every other FFN of the panoptic head (pixel-decoder encoder, then transformer decoder). Collapse with
# tools/convert_ewa.py, then test with the baseline twin.
_base_ = './mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco-panoptic.py'
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(
    backbone=dict(type='EWASwinTransformer', ewa_cfg=dict(num_experts=4, moe_layers='every_other')),
    panoptic_head=dict(type='EWAMask2FormerHead', ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
