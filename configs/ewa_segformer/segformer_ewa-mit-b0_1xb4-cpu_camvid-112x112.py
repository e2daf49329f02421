# EWA twin of segformer_mit-b0_1xb4-cpu_camvid-112x112.py: 4 experts in every other MiT block (one per
# stage); the depthwise MixFFN's experts take random cells of the map (see mmewa/models/layers/
# mixffn_experts.py); EWA with beta=0.3 after every optimizer step.
_base_ = ['./segformer_mit-b0_1xb4-cpu_camvid-112x112.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAMixVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
