# EWA twin of upernet_vit-s14_1xb4-cpu_camvid-112x112.py: 4 experts in every other block (6 of 12),
# upcycled from the pretrained FFNs; EWA with beta=0.3 after every optimizer step.
_base_ = ['./upernet_vit-s14_1xb4-cpu_camvid-112x112.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
