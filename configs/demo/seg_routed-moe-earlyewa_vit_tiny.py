# seg_routed-moe_vit_tiny.py + "Early EWA": experts are averaged with beta=0.3 after every optimizer step of
# the first 300 iterations only (30% of the 1000-iteration runs of docs/routed_moe.md's comparison), then the
# routed MoE trains freely.
_base_ = ['./seg_routed-moe_vit_tiny.py']
custom_hooks = [dict(type='MoEAuxLossHook'),
                dict(type='EWAHook', share_rate=0.3, end=300, spread_interval=50)]
