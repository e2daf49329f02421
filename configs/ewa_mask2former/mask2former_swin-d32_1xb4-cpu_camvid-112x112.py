# CPU-sized Mask2Former on CamVid: a small Swin (32 dims, 2 blocks per stage) and a tiny head (64 channels,
# 20 queries, 2 pixel-decoder encoder layers, 3 transformer-decoder layers), 112x112 crops, batch 4, trained
# from scratch (no weights ship with mmewa). Runs on 2 CPU cores; the baseline twin of
# mask2former_ewa-swin-d32_1xb4-cpu_camvid-112x112.py. On CPU the MSDeformAttn pixel decoder uses mmcv's
# pure-PyTorch deformable attention.
_base_ = ['../_base_/datasets/camvid_cpu-112x112.py', '../_base_/schedules/schedule_500it_cpu.py',
          'mmseg::_base_/default_runtime.py']
crop_size = (112, 112)
num_classes = 11
dims = 64
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0, seg_pad_val=255,
                           size=crop_size, test_cfg=dict(size_divisor=32)),
    backbone=dict(type='SwinTransformer', pretrain_img_size=224, embed_dims=32, patch_size=4, window_size=7,
                  mlp_ratio=4, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8], strides=(4, 2, 2, 2),
                  out_indices=(0, 1, 2, 3), qkv_bias=True, drop_path_rate=0.1, patch_norm=True),
    decode_head=dict(
        type='Mask2FormerHead',
        in_channels=[32, 64, 128, 256],
        strides=[4, 8, 16, 32],
        feat_channels=dims,
        out_channels=dims,
        num_classes=num_classes,
        num_queries=20,
        num_transformer_feat_level=3,
        align_corners=False,
        pixel_decoder=dict(
            type='mmdet.MSDeformAttnPixelDecoder',
            num_outs=3,
            norm_cfg=dict(type='GN', num_groups=8),
            act_cfg=dict(type='ReLU'),
            encoder=dict(
                num_layers=2,
                layer_cfg=dict(
                    self_attn_cfg=dict(embed_dims=dims, num_heads=4, num_levels=3, num_points=4,
                                       im2col_step=64, dropout=0.0, batch_first=True, norm_cfg=None,
                                       init_cfg=None),
                    ffn_cfg=dict(embed_dims=dims, feedforward_channels=4 * dims, num_fcs=2, ffn_drop=0.0,
                                 act_cfg=dict(type='ReLU', inplace=True))),
                init_cfg=None),
            positional_encoding=dict(num_feats=dims // 2, normalize=True),
            init_cfg=None),
        enforce_decoder_input_project=False,
        positional_encoding=dict(num_feats=dims // 2, normalize=True),
        transformer_decoder=dict(
            return_intermediate=True,
            num_layers=3,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=dims, num_heads=4, attn_drop=0.0, proj_drop=0.0,
                                   dropout_layer=None, batch_first=True),
                cross_attn_cfg=dict(embed_dims=dims, num_heads=4, attn_drop=0.0, proj_drop=0.0,
                                    dropout_layer=None, batch_first=True),
                ffn_cfg=dict(embed_dims=dims, feedforward_channels=4 * dims, num_fcs=2,
                             act_cfg=dict(type='ReLU', inplace=True), ffn_drop=0.0, dropout_layer=None,
                             add_identity=True)),
            init_cfg=None),
        loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0, reduction='mean',
                      class_weight=[1.0] * num_classes + [0.1]),
        loss_mask=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=5.0),
        loss_dice=dict(type='mmdet.DiceLoss', use_sigmoid=True, activate=True, reduction='mean',
                       naive_dice=True, eps=1.0, loss_weight=5.0),
        train_cfg=dict(
            num_points=1024, oversample_ratio=3.0, importance_sample_ratio=0.75,
            assigner=dict(type='mmdet.HungarianAssigner',
                          match_costs=[dict(type='mmdet.ClassificationCost', weight=2.0),
                                       dict(type='mmdet.CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
                                       dict(type='mmdet.DiceCost', weight=5.0, pred_act=True, eps=1.0)]),
            sampler=dict(type='mmdet.MaskPseudoSampler'))),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    paramwise_cfg=dict(custom_keys=dict(query_embed=dict(decay_mult=0.0), query_feat=dict(decay_mult=0.0),
                                        level_embed=dict(decay_mult=0.0), norm=dict(decay_mult=0.0))))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
