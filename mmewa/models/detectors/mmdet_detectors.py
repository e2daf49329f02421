"""EWA twins of mmdetection's DETR, Deformable DETR and DINO, registered in mmdet's scope.

``moe_layers`` counts the FFNs of ``encoder.layers``, then ``decoder.layers`` (``forward_encoder`` runs
before ``forward_decoder``). Upstream ``init_weights`` (xavier init of every encoder/decoder matrix,
deformable-attention and level-embed init, the backbone's ``init_cfg``) runs on the dense structure.
"""
from mmdet.models import detectors as det
from mmdet.registry import MODELS

from ..backbones.upcycle import ewa_twin

TRANSFORMER_FFNS = ('encoder', 'decoder')

EWADETR = ewa_twin(det.DETR, within=TRANSFORMER_FFNS)
EWADeformableDETR = ewa_twin(det.DeformableDETR, within=TRANSFORMER_FFNS)
EWADINO = ewa_twin(det.DINO, within=TRANSFORMER_FFNS)

for _cls in (EWADETR, EWADeformableDETR, EWADINO):
    MODELS.register_module(module=_cls)

__all__ = ['EWADETR', 'EWADeformableDETR', 'EWADINO']
