# CPU-sized Swin-T UperNet on CamVid (same data, schedule and head as the ViT-S/14 CPU config): the
# baseline twin of upernet_ewa-swin-t_1xb4-cpu_camvid-112x112.py. No Swin weights ship with mmewa:
# it trains from scratch unless you set model.backbone.init_cfg=dict(type='Pretrained', checkpoint=...)
# to a Swin-T checkpoint of your own (mmseg format), which the EWA twin upcycles the same way.
_base_ = ['../ewa_vit/upernet_vit-s14_1xb4-cpu_camvid-112x112.py']
model = dict(
    backbone=dict(_delete_=True, type='SwinTransformer', pretrain_img_size=224, embed_dims=96, patch_size=4,
                  window_size=7, mlp_ratio=4, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                  strides=(4, 2, 2, 2), out_indices=(0, 1, 2, 3), qkv_bias=True, qk_scale=None,
                  patch_norm=True, drop_rate=0., attn_drop_rate=0., drop_path_rate=0.2,
                  use_abs_pos_embed=False, act_cfg=dict(type='GELU'), norm_cfg=dict(type='LN')),
    neck=None,
    decode_head=dict(in_channels=[96, 192, 384, 768]))
optim_wrapper = dict(
    paramwise_cfg=dict(_delete_=True, custom_keys={'absolute_pos_embed': dict(decay_mult=0.),
                                                   'relative_position_bias_table': dict(decay_mult=0.),
                                                   'norm': dict(decay_mult=0.)}))
