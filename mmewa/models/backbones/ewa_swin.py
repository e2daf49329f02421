"""Swin Transformer (mmdet's, key-compatible with mmseg's) with selected FFNs trained as EWA experts."""
from __future__ import annotations

from mmdet.models.backbones import SwinTransformer
from mmengine.registry import MODELS

from .upcycle import init_experts_from_scratch, normalize_ewa_cfg, upcycle_blocks


@MODELS.register_module()
class EWASwinTransformer(SwinTransformer):
    """``SwinTransformer`` + EWA. Same arguments, plus ``ewa_cfg`` (as :class:`EWAVisionTransformer`).

    Blocks are numbered across stages (``sum(depths)`` in all), so ``moe_layers='every_other'`` makes
    every second block of the whole network an MoE. The collapsed checkpoint loads into mmdet's and
    mmseg's ``SwinTransformer`` alike (their parameter names are identical).
    """

    def __init__(self, *args, ewa_cfg: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ewa_cfg = normalize_ewa_cfg(ewa_cfg)
        blocks = [block for stage in self.stages for block in stage.blocks]
        self.moe_layer_indices = upcycle_blocks(blocks, self.ewa_cfg)

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            # mmdet's from-scratch init: trunc_normal(0.02) weights, zero biases.
            init_experts_from_scratch(self)
