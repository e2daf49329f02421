"""EWA twins of transformer heads (Mask2Former), registered in each installed library's own scope.

A head twin is ``type='EWA<Head>'`` with ``ewa_cfg`` in the head's dict; ``moe_layers`` counts the head's
own transformer FFNs (pixel decoder, then transformer decoder: forward order), so backbone EWA stays the
backbone twin's business and both combine in one model and one ``EWAHook``.
"""
from __future__ import annotations

from ..backbones import installed

__all__: list[str] = []
if 'mmseg' in installed:
    from .mmseg_heads import EWASegMask2FormerHead  # noqa: F401
    __all__ += ['EWASegMask2FormerHead']
if 'mmdet' in installed:
    from .mmdet_heads import EWAMask2FormerHead  # noqa: F401
    __all__ += ['EWAMask2FormerHead']
