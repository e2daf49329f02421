"""EWA twin of mmsegmentation's ``Mask2FormerHead``, registered in mmseg's scope as ``EWAMask2FormerHead``.

Python name ``EWASegMask2FormerHead``: mmdet has a ``Mask2FormerHead`` too (the one mmseg's extends),
whose twin is ``mmewa.EWAMask2FormerHead`` in mmdet's scope. ``moe_layers`` counts the FFNs of the pixel
decoder's encoder layers, then the transformer decoder's layers (forward order).
"""
from mmseg.models import decode_heads as seg
from mmseg.registry import MODELS

from ..backbones.upcycle import ewa_twin
from .mask2former import MASK2FORMER_FFNS

EWASegMask2FormerHead = ewa_twin(seg.Mask2FormerHead, 'EWASegMask2FormerHead', within=MASK2FORMER_FFNS)
MODELS.register_module(name='EWAMask2FormerHead', module=EWASegMask2FormerHead)

__all__ = ['EWASegMask2FormerHead']
