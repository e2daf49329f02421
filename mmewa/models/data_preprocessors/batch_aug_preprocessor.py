"""``BatchAugClsDataPreprocessor``: mmpretrain's ClsDataPreprocessor that also runs the per-sample pipeline
augmentations (random crop, flip, AutoAugment, erasing) on the whole uint8 batch, on the model's device.

With an in-memory dataset (``mmewa.datasets.InMemoryDataset``) the host then only indexes a tensor per
sample; everything else happens on the device in a few batched kernels. Order as in the per-sample
pipeline: ``transforms`` (uint8, loaded channel order) -> to_rgb / normalisation -> batch augments
(Mixup / CutMix from ``model.train_cfg.augments``) -> labels. At test time (``training=False``) it is
exactly ClsDataPreprocessor, so a model trained with it is tested in the standard config.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
from mmpretrain.models.utils.data_preprocessor import ClsDataPreprocessor
from mmpretrain.registry import MODELS

from .batch_transforms import build_batch_transform


@MODELS.register_module()
class BatchAugClsDataPreprocessor(ClsDataPreprocessor):
    """ClsDataPreprocessor + ``transforms``: pipeline dicts (RandomCrop, RandomFlip, AutoAugment,
    RandomErasing, with mmpretrain's options) applied batched during training, with the same distributions
    per sample (see ``build_batch_transform``)."""

    def __init__(self, transforms: Optional[Sequence[dict]] = None, **kwargs):
        super().__init__(**kwargs)
        self.transforms = [build_batch_transform(t) for t in (transforms or [])]

    def forward(self, data: dict, training: bool = False) -> dict:
        if not (training and self.transforms):
            return super().forward(data, training)
        inputs = data['inputs']
        if not isinstance(inputs, torch.Tensor):  # pseudo_collate: one host stack, one copy to the device
            if len({tuple(i.shape) for i in inputs}) != 1:
                shapes = sorted({tuple(i.shape) for i in inputs})
                raise ValueError('BatchAugClsDataPreprocessor: the batch transforms need images of one size; '
                                 f'got {shapes} (resize them in the dataset)')
            inputs = torch.stack(list(inputs))
        if inputs.dtype != torch.uint8:
            raise TypeError(f'BatchAugClsDataPreprocessor: the batch transforms work on uint8 images as '
                            f'loaded, got {inputs.dtype}')
        x = self.cast_data(inputs)
        for transform in self.transforms:
            x = transform(x)
        return super().forward({**data, 'inputs': x}, training)
