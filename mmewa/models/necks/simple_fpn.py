"""ViTDet's simple feature pyramid: multi-scale maps for a detector from one plain-ViT feature map.

Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection" (ViTDet), ECCV 2022: the
last ViT map (stride = patch size) is upsampled by deconvolutions (x4, x2), kept (x1) and max-pooled
(x0.5), then projected by a 1x1 and a 3x3 conv. mmdet 3.3 ships this only in its ``projects/`` folder,
which is not installed with the package, so mmewa provides it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import nn


@MODELS.register_module(name='ViTSimpleFPN')  # not 'SimpleFPN': mmdet's ViTDet project registers that
class SimpleFPN(BaseModule):
    """Pyramid at ``scales`` x the input map, plus ``num_outs - len(scales)`` max-pooled extra levels.

    Args:
        in_channels: channels of the backbone map (e.g. 384 for ViT-S).
        out_channels: channels of every output level.
        scales: resize factors of the levels (powers of two; default 4, 2, 1, 0.5 as in ViTDet).
        num_outs: levels returned; extra ones are stride-2 max pools of the last (e.g. P6 for an RPN).
        in_index: which backbone output to use (default the last).
        norm_cfg: norm after each conv (ViTDet uses LayerNorm; GroupNorm is a close, standard choice).
    """

    def __init__(self, in_channels: int, out_channels: int, scales: tuple[float, ...] = (4, 2, 1, 0.5),
                 num_outs: int = 5, in_index: int = -1,
                 norm_cfg: dict = dict(type='GN', num_groups=32, requires_grad=True),
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        if num_outs < len(scales):
            raise ValueError(f'num_outs={num_outs} must be >= the number of scales ({len(scales)})')
        self.scales, self.num_outs, self.in_index = tuple(scales), num_outs, in_index
        self.resizers = nn.ModuleList(self._resizer(in_channels, s, norm_cfg) for s in self.scales)
        dims = [self._resized_channels(in_channels, s) for s in self.scales]
        self.lateral_convs = nn.ModuleList(
            ConvModule(d, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None) for d in dims)
        self.output_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None)
            for _ in dims)

    @staticmethod
    def _resized_channels(channels: int, scale: float) -> int:
        return {4: channels // 4, 2: channels // 2}.get(scale, channels)

    @staticmethod
    def _resizer(channels: int, scale: float, norm_cfg: dict) -> nn.Module:
        if scale == 4:
            return nn.Sequential(nn.ConvTranspose2d(channels, channels // 2, 2, stride=2),
                                 build_norm_layer(norm_cfg, channels // 2)[1], nn.GELU(),
                                 nn.ConvTranspose2d(channels // 2, channels // 4, 2, stride=2))
        if scale == 2:
            return nn.ConvTranspose2d(channels, channels // 2, 2, stride=2)
        if scale == 1:
            return nn.Identity()
        if scale == 0.5:
            return nn.MaxPool2d(2, stride=2)
        raise ValueError(f'SimpleFPN scales must be among 4, 2, 1, 0.5; got {scale}')

    def forward(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x = inputs[self.in_index]
        outs = [out(lat(resize(x))) for resize, lat, out in
                zip(self.resizers, self.lateral_convs, self.output_convs)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
