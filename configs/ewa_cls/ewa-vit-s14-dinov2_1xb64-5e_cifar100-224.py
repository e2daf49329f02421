# EWA twin of vit-s14-dinov2_1xb64-5e_cifar100-224.py: 4 experts in every other block, share rate 0.3, as in
# the 56-px comparison (ewa-vit-s14-dinov2_1xb64-2e_cifar100-56.py).
_base_ = ['./vit-s14-dinov2_1xb64-5e_cifar100-224.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
