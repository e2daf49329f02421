"""EWA twins of every supported transformer backbone, registered in each installed library's own scope.

mmewa imports with any subset of mmseg / mmdet / mmpretrain installed and registers what is there. Any
other backbone gets EWA with ``ewa_twin(MyBackbone)`` in Python, or in a config with
``backbone=dict(type='EWABackbone', backbone=dict(type='MyBackbone', ...), ewa_cfg=dict(...))``.
"""
from __future__ import annotations

import functools
import importlib

from mmengine.registry import Registry
from torch import nn

from .upcycle import densified, ewa_twin, find_mlps, normalize_ewa_cfg, select_layers, upcycle_mlps

LIBRARIES = {'mmseg': 'mmseg_twins', 'mmdet': 'mmdet_twins', 'mmpretrain': 'mmpretrain_twins'}

cached_ewa_twin = functools.cache(ewa_twin)


def _backbone_builder(registry: Registry):
    def EWABackbone(backbone: dict, ewa_cfg: dict | None = None) -> nn.Module:  # noqa: N802 (a config type)
        """Build ``backbone`` (any config of this scope) as its EWA twin."""
        cfg = dict(backbone)
        upstream = cfg.pop('type')
        if isinstance(upstream, str):
            found = registry.get(upstream)
            if found is None:
                raise KeyError(f'EWABackbone: {upstream!r} is not a backbone in the '
                               f'{registry.scope!r} registry')
            upstream = found
        return cached_ewa_twin(upstream)(**cfg, ewa_cfg=ewa_cfg)
    return EWABackbone


def _library(name: str):
    """The library if it is installed, else ``None`` (any other import error is a broken install: raised)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        return None


installed: dict[str, object] = {}
for _lib, _module in LIBRARIES.items():
    if _library(_lib) is not None:
        installed[_lib] = importlib.import_module(f'{__name__}.{_module}')
        _registry = importlib.import_module(f'{_lib}.registry').MODELS
        _registry.register_module(name='EWABackbone', module=_backbone_builder(_registry))

if 'mmseg' in installed:
    from .mmseg_twins import (  # noqa: F401
        EWAMAE,
        EWAPCPVT,
        EWASVT,
        EWABEiT,
        EWAMixVisionTransformer,
        EWASegSwinTransformer,
        EWAVisionTransformer,
    )
if 'mmdet' in installed:
    from .mmdet_twins import EWAPyramidVisionTransformer, EWAPyramidVisionTransformerV2, EWASwinTransformer  # noqa: F401
if 'mmpretrain' in installed:
    from .mmpretrain_twins import (  # noqa: F401
        EWABEiTViT,
        EWADeiT3,
        EWAPretrainSwinTransformer,
        EWAPretrainVisionTransformer,
        EWASwinTransformerV2,
        EWAViTEVA02,
    )
if 'mmseg' in installed and 'mmdet' in installed:
    from mmdet.registry import MODELS as _DET_MODELS
    _DET_MODELS.register_module(name='EWAVisionTransformer', module=EWAVisionTransformer)

__all__ = ['ewa_twin', 'densified', 'find_mlps', 'normalize_ewa_cfg', 'select_layers', 'upcycle_mlps',
           'installed']
__all__ += [name for module in installed.values() for name in module.__all__]
