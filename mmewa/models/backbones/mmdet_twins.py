"""EWA twins of mmdetection's transformer backbones, registered in mmdet's registry scope.

``EWAPyramidVisionTransformerV2``'s MixFFN has a 3x3 depthwise conv: its experts take cells of the feature
map with a halo (``mmewa/models/layers/mixffn_experts.py``), so the twin stays exact.
"""
from mmdet.models import backbones as det
from mmdet.registry import MODELS

from .upcycle import ewa_twin

EWASwinTransformer = ewa_twin(det.SwinTransformer)
EWAPyramidVisionTransformer = ewa_twin(det.PyramidVisionTransformer)
EWAPyramidVisionTransformerV2 = ewa_twin(det.PyramidVisionTransformerV2)

for _cls in (EWASwinTransformer, EWAPyramidVisionTransformer, EWAPyramidVisionTransformerV2):
    MODELS.register_module(module=_cls)

__all__ = ['EWASwinTransformer', 'EWAPyramidVisionTransformer', 'EWAPyramidVisionTransformerV2']
