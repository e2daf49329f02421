# seg_routed-moe_vit_tiny.py + "Early EWA": experts are averaged with beta=0.3 after every optimizer step of
# the first 30% of training only (EWAHook end=300 of 1000 iterations), then train freely.
_base_ = ['./seg_routed-moe_vit_tiny.py']
custom_hooks = [dict(type='EWAHook', share_rate=0.3, end=300, spread_interval=50)]
