"""EWA twin of mmdetection's ``Mask2FormerHead`` (instance / panoptic), registered in mmdet's scope.

``moe_layers`` counts the FFNs of the pixel decoder's encoder layers, then the transformer decoder's layers
(forward order).
"""
from mmdet.models import dense_heads as det
from mmdet.registry import MODELS

from ..backbones.upcycle import ewa_twin
from .mask2former import MASK2FORMER_FFNS

EWAMask2FormerHead = ewa_twin(det.Mask2FormerHead, within=MASK2FORMER_FFNS)
MODELS.register_module(module=EWAMask2FormerHead)

__all__ = ['EWAMask2FormerHead']
