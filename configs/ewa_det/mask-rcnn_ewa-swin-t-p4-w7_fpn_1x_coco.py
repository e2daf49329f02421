# EWA on mmdet's own Swin-T mask-rcnn config: the ImageNet Swin-T FFNs are upcycled into 4 experts in every
# other block. Collapse with tools/convert_ewa.py, then test with the baseline twin.
_base_ = './mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWASwinTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
