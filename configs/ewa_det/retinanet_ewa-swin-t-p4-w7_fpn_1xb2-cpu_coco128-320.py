# EWA twin of retinanet_swin-t-p4-w7_fpn_1xb2-cpu_coco128-320.py: 4 experts in every other Swin block.
_base_ = './retinanet_swin-t-p4-w7_fpn_1xb2-cpu_coco128-320.py'
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWASwinTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
