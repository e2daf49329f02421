"""EWA twins of mmdetection's transformer backbones, registered in mmdet's registry scope.

``PyramidVisionTransformerV2`` has no twin: its ``MixFFN`` has a 3x3 depthwise conv (see ``families.py``).
"""
from mmdet.models import backbones as det
from mmdet.registry import MODELS

from .upcycle import ewa_twin

EWASwinTransformer = ewa_twin(det.SwinTransformer)
EWAPyramidVisionTransformer = ewa_twin(det.PyramidVisionTransformer)

for _cls in (EWASwinTransformer, EWAPyramidVisionTransformer):
    MODELS.register_module(module=_cls)

__all__ = ['EWASwinTransformer', 'EWAPyramidVisionTransformer']
