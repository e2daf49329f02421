"""Data preprocessors that augment whole batches on the device (registered in mmpretrain's scope)."""
from __future__ import annotations

from ..backbones import installed
from .batch_autoaugment import BatchAutoAugment
from .batch_transforms import (
    BATCH_TRANSFORMS,
    BatchRandomCrop,
    BatchRandomErasing,
    BatchRandomFlip,
    build_batch_transform,
)

__all__ = ['BATCH_TRANSFORMS', 'BatchAutoAugment', 'BatchRandomCrop', 'BatchRandomErasing', 'BatchRandomFlip',
           'build_batch_transform']

if 'mmpretrain' in installed:
    from .batch_aug_preprocessor import BatchAugClsDataPreprocessor  # noqa: F401
    __all__ += ['BatchAugClsDataPreprocessor']
