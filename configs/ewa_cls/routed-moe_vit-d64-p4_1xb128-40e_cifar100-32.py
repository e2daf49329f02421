# The CPU CIFAR-100 ViT with *routed* MoE layers (learned router, top-2, dropless, load-balancing aux loss)
# in every other block and no EWA: the "naive MoE" of the Early-EWA comparison. It stays an MoE for inference
# (compare it with --no-collapse). MoEAuxLossHook puts the weighted aux loss into the loss dict.
_base_ = ['./vit-d64-p4_1xb128-40e_cifar100-32.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(moe_type='routed', num_experts=4, moe_layers='every_other', top_k=2,
                                        aux_weight=0.01)))
custom_hooks = [dict(type='MoEAuxLossHook')]
