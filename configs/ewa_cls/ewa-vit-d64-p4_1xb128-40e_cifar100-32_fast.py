# The EWA twin of vit-d64-p4_1xb128-40e_cifar100-32_fast.py: 4 experts in every other block, share rate 0.3.
_base_ = ['./vit-d64-p4_1xb128-40e_cifar100-32_fast.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
