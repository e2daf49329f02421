# ViTDet-style Mask R-CNN over the plain ViT-S/14 (DINOv2-style,
# tools/model_converters/convert_dinov2_onnx.py): the last ViT map (stride 14) feeds mmewa's SimpleFPN (x4,
# x2, x1, x0.5 + a pooled P6), so pyramid strides are 3.5, 7, 14, 28, 56 px and the anchor generator / RoI
# extractors use those. mmseg's VisionTransformer is named across scopes as 'mmseg.VisionTransformer'.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['mmseg.models', 'mmewa'], allow_failed_imports=False)
strides = [3.5, 7, 14, 28]
model = dict(
    data_preprocessor=dict(pad_size_divisor=56),
    backbone=dict(
        _delete_=True, type='mmseg.VisionTransformer', img_size=(518, 518), patch_size=14, patch_bias=True,
        embed_dims=384, num_layers=12, num_heads=6, mlp_ratio=4, out_indices=(11, ), qkv_bias=True,
        drop_path_rate=0.1, with_cls_token=True, final_norm=True, norm_cfg=dict(type='LN', eps=1e-6),
        act_cfg=dict(type='GELU'), interpolate_mode='bicubic',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/dinov2_vits14_mmseg.pth')),
    neck=dict(_delete_=True, type='ViTSimpleFPN', in_channels=384, out_channels=256, num_outs=5),
    rpn_head=dict(anchor_generator=dict(strides=strides + [56])),
    roi_head=dict(bbox_roi_extractor=dict(featmap_strides=strides),
                  mask_roi_extractor=dict(featmap_strides=strides)))
