"""Small configurations of every EWA twin and its upstream backbone (shared by the twin tests)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    scope: str  # the registry scope: mmseg, mmdet, mmpretrain
    name: str  # upstream registry name; the twin is 'EWA' + name
    kwargs: dict
    image: int = 32
    frozen: dict = field(default_factory=dict)  # upstream freezing kwargs for the freezing test
    ckpt_prefix: str = ''  # key prefix the upstream Pretrained loader expects (mmdet Swin: 'backbone.')
    with_cp: bool = False  # the upstream backbone takes `with_cp`
    atol: float = 0.0  # eval(twin) vs upstream(collapsed): 0 = bit for bit; MixFFN's 1x1 convs round
    # differently from the same matmul on tokens (and differently per thread count)

    @property
    def id(self) -> str:
        return f'{self.scope}.{self.name}'


VIT_SEG = dict(img_size=32, patch_size=8, embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2,
               out_indices=(1, 3))
SWIN_SMALL = dict(embed_dims=16, depths=(2, 2), num_heads=(1, 2), strides=(4, 2), out_indices=(0, 1),
                  window_size=4, drop_path_rate=0.1)
PRE_ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)
TWINS = dict(in_channels=3, embed_dims=[16, 32], patch_sizes=[4, 2], strides=[4, 2], num_heads=[1, 2],
             mlp_ratios=[2, 2], depths=[2, 2], sr_ratios=[2, 1], out_indices=(0, 1), drop_path_rate=0.1)

VIT_PLAIN = dict(img_size=32, patch_size=8, embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2,
                 out_indices=(1, 3))
PRE = dict(arch=PRE_ARCH, img_size=32, patch_size=8)
PRE_SWIN = dict(arch=dict(embed_dims=16, depths=[2, 2], num_heads=[1, 2]), img_size=32, window_size=4,
                out_indices=(1,), drop_path_rate=0.1)
PRE_SWIN2 = dict(arch=dict(embed_dims=16, depths=[2, 2], num_heads=[1, 2], extra_norm_every_n_blocks=0),
                 img_size=32, window_size=[4, 4], out_indices=(1,), drop_path_rate=0.1)
PVT = dict(pretrain_img_size=32, embed_dims=16, num_stages=2, num_layers=[2, 2], num_heads=[1, 2],
           patch_sizes=[4, 2], strides=[4, 2], sr_ratios=[2, 1], mlp_ratios=[2, 2], out_indices=(0, 1),
           drop_path_rate=0.1)
MIT = dict(embed_dims=16, num_stages=2, num_layers=[2, 2], num_heads=[1, 2], patch_sizes=[7, 3],
           strides=[4, 2], sr_ratios=[2, 1], out_indices=(0, 1), mlp_ratio=2, drop_path_rate=0.1)
PVT2 = dict(pretrain_img_size=32, embed_dims=16, num_layers=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],  # 4 stages:
            mlp_ratios=[2, 2, 2, 2], out_indices=(0, 3), drop_path_rate=0.1)  # PVTv2 fixes 4 patch sizes

CASES = [
    Case('mmseg', 'VisionTransformer', dict(VIT_SEG, drop_path_rate=0.1),
         frozen=dict(frozen_exclude=['pos_embed']), with_cp=True),
    Case('mmseg', 'BEiT', VIT_PLAIN),
    Case('mmseg', 'MAE', VIT_PLAIN),
    Case('mmseg', 'SwinTransformer', SWIN_SMALL, frozen=dict(frozen_stages=1), with_cp=True),
    Case('mmseg', 'PCPVT', TWINS),
    Case('mmseg', 'SVT', dict(TWINS, windiow_sizes=[4, 4], norm_after_stage=True)),
    Case('mmseg', 'MixVisionTransformer', MIT, with_cp=True),  # depthwise MixFFN: experts take map cells
    Case('mmdet', 'SwinTransformer', SWIN_SMALL, frozen=dict(frozen_stages=1), ckpt_prefix='backbone.',
         with_cp=True),
    Case('mmdet', 'PyramidVisionTransformer', PVT, atol=1e-5),
    Case('mmdet', 'PyramidVisionTransformerV2', PVT2),  # depthwise MixFFN: eval runs the upstream convs
    Case('mmpretrain', 'VisionTransformer', dict(PRE, drop_path_rate=0.1), frozen=dict(frozen_stages=2)),
    Case('mmpretrain', 'DeiT3', dict(PRE, drop_path_rate=0.1)),
    Case('mmpretrain', 'BEiTViT', PRE, frozen=dict(frozen_stages=2)),
    Case('mmpretrain', 'ViTEVA02', dict(PRE, arch=dict(PRE_ARCH, feedforward_channels=48),
                                        drop_path_rate=0.1)),
    Case('mmpretrain', 'SwinTransformer', PRE_SWIN, frozen=dict(frozen_stages=1), with_cp=True),
    Case('mmpretrain', 'SwinTransformerV2', PRE_SWIN2, frozen=dict(frozen_stages=1)),
]
