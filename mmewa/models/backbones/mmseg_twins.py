"""EWA twins of mmsegmentation's transformer backbones, registered in mmseg's registry scope.

``EWAVisionTransformer`` is also registered in mmdet's scope (mmdet ships no plain ViT, and ViTDet-style
detection configs use mmseg's), so ``type='EWAVisionTransformer'`` works in mmseg and mmdet configs alike.
"""
from mmseg.models import backbones as seg
from mmseg.registry import MODELS

from .upcycle import ewa_twin

EWAVisionTransformer = ewa_twin(seg.VisionTransformer)
EWABEiT = ewa_twin(seg.BEiT)
EWAMAE = ewa_twin(seg.MAE)
EWASegSwinTransformer = ewa_twin(seg.SwinTransformer, 'EWASegSwinTransformer')
EWAPCPVT = ewa_twin(seg.PCPVT)
EWASVT = ewa_twin(seg.SVT)
EWAMixVisionTransformer = ewa_twin(seg.MixVisionTransformer)  # SegFormer's MiT (depthwise MixFFN)

for _cls in (EWAVisionTransformer, EWABEiT, EWAMAE, EWAPCPVT, EWASVT, EWAMixVisionTransformer):
    MODELS.register_module(module=_cls)
MODELS.register_module(name='EWASwinTransformer', module=EWASegSwinTransformer)

__all__ = ['EWAVisionTransformer', 'EWABEiT', 'EWAMAE', 'EWASegSwinTransformer', 'EWAPCPVT', 'EWASVT',
           'EWAMixVisionTransformer']
