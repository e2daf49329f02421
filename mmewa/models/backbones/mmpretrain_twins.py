"""EWA twins of mmpretrain's transformer backbones, registered in mmpretrain's registry scope.

Python names carry ``Pretrain`` where mmseg/mmdet have a backbone of the same name; in configs each is
``'EWA' + the upstream name`` (``EWAVisionTransformer``, ``EWASwinTransformer``, ...) in mmpretrain's scope.
"""
from mmpretrain.models import backbones as cls_
from mmpretrain.registry import MODELS

from .upcycle import ewa_twin

EWAPretrainVisionTransformer = ewa_twin(cls_.VisionTransformer, 'EWAPretrainVisionTransformer')
EWADeiT3 = ewa_twin(cls_.DeiT3)
EWABEiTViT = ewa_twin(cls_.BEiTViT)
EWAViTEVA02 = ewa_twin(cls_.ViTEVA02)


_SwinTwin = ewa_twin(cls_.SwinTransformer, 'EWAPretrainSwinTransformer')


class EWAPretrainSwinTransformer(_SwinTwin):
    __doc__ = _SwinTwin.__doc__

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        # mmpretrain converts old (version < 2) Swin checkpoints only when `self.__class__ is
        # SwinTransformer`; the twin must load them as the upstream class does.
        twin, self.__class__ = self.__class__, cls_.SwinTransformer
        try:
            cls_.SwinTransformer._load_from_state_dict(self, *args, **kwargs)
        finally:
            self.__class__ = twin


EWASwinTransformerV2 = ewa_twin(cls_.SwinTransformerV2)

for _cls in (EWADeiT3, EWABEiTViT, EWAViTEVA02, EWASwinTransformerV2):
    MODELS.register_module(module=_cls)
MODELS.register_module(name='EWAVisionTransformer', module=EWAPretrainVisionTransformer)
MODELS.register_module(name='EWASwinTransformer', module=EWAPretrainSwinTransformer)

__all__ = ['EWAPretrainVisionTransformer', 'EWADeiT3', 'EWABEiTViT', 'EWAViTEVA02',
           'EWAPretrainSwinTransformer', 'EWASwinTransformerV2']
