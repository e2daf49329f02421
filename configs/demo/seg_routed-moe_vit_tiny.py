# The tiny demo segmentor with *routed* MoE layers (V-MoE style: learned router, top-2, dropless,
# load-balancing aux loss) in every other block and no EWA: the "naive MoE" of the Early-EWA comparison.
# A routed MoE stays an MoE for inference (convert_ewa.py refuses it unless --approximate-routed).
# MoEAuxLossHook puts the weighted aux loss into the loss dict (optimised, AMP-scaled and logged as
# loss_moe_aux; moe_balance logs the unweighted mean, 1 = balanced).
_base_ = ['./seg_vit_tiny.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(moe_type='routed', num_experts=4, moe_layers='every_other', top_k=2,
                                        aux_weight=0.01)))
custom_hooks = [dict(type='MoEAuxLossHook')]
