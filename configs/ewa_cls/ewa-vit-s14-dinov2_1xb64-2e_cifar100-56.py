# EWA twin of vit-s14-dinov2_1xb64-2e_cifar100-56.py (fine-tuning the pretrained ViT-S/14 on CIFAR-100 at
# 56 px): the same recipe, with the FFNs of every other block upcycled from the same checkpoint into 4 experts
# (random uniform token partition) and EWA after every optimizer step with share rate 0.3, the paper's
# defaults. At step 0 it computes exactly what the baseline computes (tests/test_finetune_dinov2.py); after
# training, tools/convert_ewa.py collapses it into the baseline config.
_base_ = ['./vit-s14-dinov2_1xb64-2e_cifar100-56.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
