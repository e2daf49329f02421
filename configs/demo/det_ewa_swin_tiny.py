# The EWA twin of det_swin_tiny.py.
_base_ = ['./det_swin_tiny.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWASwinTransformer', ewa_cfg=dict(num_experts=2, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3, spread_interval=10)]
