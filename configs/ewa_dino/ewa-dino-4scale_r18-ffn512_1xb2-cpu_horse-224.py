# EWA twin of dino-4scale_r18-ffn512_1xb2-cpu_horse-224.py: 4 experts in every other transformer FFN (encoder
# layers 0-1, then decoder layers 2-3: layers 1 and 3), EWA with beta=0.3.
_base_ = ['./dino-4scale_r18-ffn512_1xb2-cpu_horse-224.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(type='EWADINO', ewa_cfg=dict(num_experts=4, moe_layers='every_other'))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
