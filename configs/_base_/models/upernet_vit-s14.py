# UperNet over a plain ViT-S/14 (DINOv2-style, 384 dims, 12 layers, LayerScale folded into the linears by
# tools/model_converters/convert_dinov2_onnx.py). Features of layers 3, 6, 9, 12 are rescaled to strides
# 4/8/16/32 (of the 14-pixel patch grid) by MultiLevelNeck, as in mmseg's UperNet-ViT configs.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0, seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='VisionTransformer', img_size=(518, 518), patch_size=14, patch_bias=True, in_channels=3,
        embed_dims=384, num_layers=12, num_heads=6, mlp_ratio=4, out_indices=(2, 5, 8, 11), qkv_bias=True,
        drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.1, with_cls_token=True, final_norm=False,
        norm_cfg=dict(type='LN', eps=1e-6), act_cfg=dict(type='GELU'), interpolate_mode='bicubic',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/dinov2_vits14_mmseg.pth')),
    neck=dict(type='MultiLevelNeck', in_channels=[384, 384, 384, 384], out_channels=384,
              scales=[4, 2, 1, 0.5]),
    decode_head=dict(
        type='UPerHead', in_channels=[384, 384, 384, 384], in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6),
        channels=512, dropout_ratio=0.1, num_classes=150, norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead', in_channels=384, in_index=2, channels=256, num_convs=1, concat_input=False,
        dropout_ratio=0.1, num_classes=150, norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
