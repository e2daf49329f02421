# The tiny demo ViT trained from scratch on CamVid (64x64 crops) to convergence: 6,000 iterations with a
# poly-decayed learning rate (the demo's 200 constant-lr iterations stop long before). Baseline twin of
# seg_ewa_vit-tiny_6k-poly_camvid-64.py; about 1-2 min per run on 2 CPU cores.
_base_ = ['../demo/seg_vit_tiny.py']
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=0, end=6000, by_epoch=False)]
train_cfg = dict(max_iters=6000, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval=6000), logger=dict(interval=100))
