# Paper scale: mmpretrain's own DeiT-S ImageNet-1k recipe (from scratch, 300 epochs) with EWA: 4 experts in
# every other block, share rate 0.3. Its baseline is mmpretrain's config itself,
# `mmpretrain::deit/deit-small_4xb256_in1k.py`
# (deit-small_4xb256_in1k.py here re-exports it, so both sit side by side). Needs ImageNet in data/imagenet.
_base_ = ['./deit-small_4xb256_in1k.py']
custom_imports = dict(imports=['mmewa'], allow_failed_imports=False)
model = dict(backbone=dict(type='EWAVisionTransformer',
                           ewa_cfg=dict(num_experts=4, moe_layers='every_other')))
custom_hooks = [dict(type='EWAHook', share_rate=0.3)]
