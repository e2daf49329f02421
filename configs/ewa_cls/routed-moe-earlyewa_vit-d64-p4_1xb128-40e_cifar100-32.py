# routed-moe_vit-d64-p4_1xb128-40e_cifar100-32.py + "Early EWA" (the paper's claim for routed MoE): the
# experts are averaged with beta = 0.3 after every optimizer step of the first 10 of 40 epochs, then the
# routed MoE trains freely.
_base_ = ['./routed-moe_vit-d64-p4_1xb128-40e_cifar100-32.py']
custom_hooks = [dict(type='MoEAuxLossHook'),
                dict(type='EWAHook', share_rate=0.3, end=10, by_epoch=True)]
