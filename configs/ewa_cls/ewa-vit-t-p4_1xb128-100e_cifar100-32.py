# The EWA twin of vit-t-p4_1xb128-100e_cifar100-32.py: the three lines a user changes (mmpretrain scope).
_base_ = ['./vit-t-p4_1xb128-100e_cifar100-32.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
