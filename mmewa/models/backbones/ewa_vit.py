"""mmseg's ``VisionTransformer`` with selected FFNs trained as EWA experts."""
from __future__ import annotations

from mmengine.registry import MODELS
from mmseg.models.backbones import VisionTransformer

from .upcycle import init_experts_from_scratch, normalize_ewa_cfg, upcycle_blocks


@MODELS.register_module()
class EWAVisionTransformer(VisionTransformer):
    """``VisionTransformer`` (mmseg) + EWA. Same arguments, plus ``ewa_cfg``.

    Args:
        ewa_cfg: ``dict(num_experts=4, moe_layers='every_other', partition='batch')``; see
            :func:`mmewa.models.backbones.upcycle.select_layers` for ``moe_layers``.

    A standard ``VisionTransformer`` checkpoint (``init_cfg=dict(type='Pretrained', ...)`` or
    ``load_from``) loads directly: each MoE layer's experts become copies of the pretrained FFN. After
    training, ``tools/convert_ewa.py`` gives a checkpoint for ``type='VisionTransformer'``.
    """

    def __init__(self, *args, ewa_cfg: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ewa_cfg = normalize_ewa_cfg(ewa_cfg)
        self.moe_layer_indices = upcycle_blocks(self.layers, self.ewa_cfg)

    def init_weights(self) -> None:
        super().init_weights()
        if not (isinstance(self.init_cfg, dict) and self.init_cfg.get('type') in ('Pretrained',
                                                                                   'Pretrained_Part')):
            # mmseg's from-scratch init: trunc_normal(0.02) weights, N(0, 1e-6) FFN biases.
            init_experts_from_scratch(self, bias_std=1e-6)
