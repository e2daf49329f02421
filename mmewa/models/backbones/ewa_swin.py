"""Swin Transformer with selected FFNs trained as EWA experts, for mmdet and for mmseg.

mmdet and mmseg each ship a ``SwinTransformer`` with identical parameter names but different
pretrained-loading code (mmdet expects ``backbone.``-prefixed keys or ``convert_weights=True``; mmseg
loads plain Swin checkpoints). So there are two EWA twins, both registered as ``EWASwinTransformer`` in
their library's registry: a config resolves the one of its ``default_scope``, and its collapsed checkpoint
loads into that library's standard ``SwinTransformer``.
"""
from __future__ import annotations

from mmdet.models.backbones import SwinTransformer as DetSwinTransformer
from mmdet.registry import MODELS as DET_MODELS
from mmseg.models.backbones import SwinTransformer as SegSwinTransformer
from mmseg.registry import MODELS as SEG_MODELS

from .upcycle import init_experts_from_scratch, normalize_ewa_cfg, upcycle_blocks


class _EWASwinMixin:
    """``ewa_cfg`` handling shared by both Swin twins (blocks numbered across stages)."""

    def _setup_ewa(self, ewa_cfg: dict | None) -> None:
        self.ewa_cfg = normalize_ewa_cfg(ewa_cfg)
        blocks = [block for stage in self.stages for block in stage.blocks]
        self.moe_layer_indices = upcycle_blocks(blocks, self.ewa_cfg)

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            # Both parents' from-scratch init: trunc_normal(0.02) weights, zero biases.
            init_experts_from_scratch(self)


@DET_MODELS.register_module(name='EWASwinTransformer')
class EWASwinTransformer(_EWASwinMixin, DetSwinTransformer):
    """mmdet's ``SwinTransformer`` + EWA. Same arguments, plus ``ewa_cfg`` (as ``EWAVisionTransformer``).

    Blocks are numbered across stages (``sum(depths)`` in all), so ``moe_layers='every_other'`` makes
    every second block of the whole network an MoE.
    """

    def __init__(self, *args, ewa_cfg: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._setup_ewa(ewa_cfg)


@SEG_MODELS.register_module(name='EWASwinTransformer')
class EWASegSwinTransformer(_EWASwinMixin, SegSwinTransformer):
    """mmseg's ``SwinTransformer`` + EWA (named ``EWASwinTransformer`` in mmseg configs)."""

    def __init__(self, *args, ewa_cfg: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._setup_ewa(ewa_cfg)
