"""EWA twins of transformer detectors (the DETR family), registered in mmdet's scope when it is installed.

A detector twin is ``type='EWA<Detector>'`` with ``ewa_cfg`` in the model dict; ``moe_layers`` counts only
the detector's transformer FFNs (encoder layers, then decoder layers: forward order), never its backbone's
(give the backbone its own twin) nor its head's ``reg_ffn`` (a box regressor, not a transformer layer).
"""
from __future__ import annotations

from ..backbones import installed

__all__: list[str] = []
if 'mmdet' in installed:
    from .mmdet_detectors import EWADETR, EWADINO, EWADeformableDETR  # noqa: F401
    __all__ += ['EWADETR', 'EWADeformableDETR', 'EWADINO']
