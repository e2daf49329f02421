"""``InMemoryDataset``: any mmpretrain image dataset decoded once into one uint8 tensor.

The per-sample pipeline of a small-image dataset (CIFAR: 32x32 PNGs) costs far more host time than the
model does on a GPU: decoding plus a handful of numpy transforms per image. This wrapper decodes every image
of the wrapped dataset once (exactly as ``LoadImageFromFile`` with its defaults: cv2, colour, BGR), keeps
them as one ``(N, C, H, W)`` uint8 tensor (the layout ``PackInputs`` gives), and returns per sample only a
view of that tensor and its label. Augment the batch with ``BatchAugClsDataPreprocessor``.

``cache_file`` (optional) keeps the decoded tensor as an ``.npz`` so a later run loads it in about a
second; it records the image list it was made from and is rebuilt when that list changes. Put it beside a
work dir, never inside the (possibly read-only) data folder.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

import mmcv
import numpy as np
import torch
from mmengine import fileio
from mmengine.dataset import BaseDataset
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS
from mmpretrain.structures import DataSample


def decode(img_path: str) -> np.ndarray:
    """One image as LoadImageFromFile (to_float32=False, color_type='color', imdecode_backend='cv2')."""
    return mmcv.imfrombytes(fileio.get(img_path), flag='color', backend='cv2')


def fingerprint(paths: list[str], labels: np.ndarray) -> str:
    """What the cache was made from: the image list (names relative to their common folder) and labels."""
    root = os.path.commonpath(paths) if paths else ''
    h = hashlib.sha1()
    for p in paths:
        h.update(os.path.relpath(p, root).encode() + b'\0')
    h.update(labels.astype(np.int64).tobytes())
    return h.hexdigest()


def with_data_root(cfg: dict, data_root: str) -> dict:
    """``cfg`` with ``data_root`` set on it, or on each of its ``datasets`` (ConcatDataset)."""
    cfg = dict(cfg)
    if 'datasets' in cfg:
        cfg['datasets'] = [with_data_root(d, data_root) for d in cfg['datasets']]
    else:
        cfg['data_root'] = data_root
    return cfg


@DATASETS.register_module()
class InMemoryDataset:
    """Wrap ``dataset`` (a config or a built mmpretrain dataset with ``img_path`` / ``gt_label`` infos, e.g.
    CustomDataset or a ConcatDataset of them); its own pipeline is not used. ``data_root``, if given, replaces
    the data_root of the wrapped dataset config (each of a ConcatDataset's), so the one option
    ``train_dataloader.dataset.data_root=PATH`` moves a standard and a fast config alike; ``indices`` (an int:
    the first N, or a list) keeps part of it, as BaseDataset's option of that name does."""

    def __init__(self, dataset: Union[dict, BaseDataset], cache_file: Optional[str] = None,
                 data_root: Optional[str] = None, indices: Union[None, int, Sequence[int]] = None,
                 lazy_init: bool = False):
        if data_root is not None:
            if not isinstance(dataset, dict):
                raise TypeError('InMemoryDataset: data_root applies to a dataset config, not a built dataset')
            dataset = with_data_root(dataset, data_root)
        if isinstance(dataset, dict):  # mmpretrain's types, whatever scope the caller's config set
            with DefaultScope.overwrite_default_scope('mmpretrain'):
                dataset = DATASETS.build(dataset)
        self.dataset = dataset
        self.cache_file = cache_file
        self.indices = indices
        self.images: Optional[torch.Tensor] = None
        self.labels: Optional[torch.Tensor] = None
        self._fully_initialized = False
        self._keep: Optional[np.ndarray] = None
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        self.dataset.full_init()
        infos = [self.dataset.get_data_info(i) for i in range(len(self.dataset))]
        paths = [info['img_path'] for info in infos]
        labels = np.array([int(info['gt_label']) for info in infos], dtype=np.int64)
        key = fingerprint(paths, labels)
        images = self._load_cache(key)
        if images is None:
            images = self._decode_all(paths)
            self._save_cache(images, labels, key)
        keep = None
        if self.indices is not None:
            indices = self.indices
            keep = np.arange(min(indices, len(labels))) if isinstance(indices, int) else np.asarray(indices)
        self._keep = keep
        if keep is not None:
            images, labels = images[keep], labels[keep]
        self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        self.labels = torch.from_numpy(labels)
        self._fully_initialized = True

    @staticmethod
    def _decode_all(paths: list[str]) -> np.ndarray:
        if not paths:
            raise ValueError('InMemoryDataset: the wrapped dataset has no images')
        first = decode(paths[0])
        images = np.empty((len(paths), *first.shape), dtype=np.uint8)
        images[0] = first
        for i, path in enumerate(paths[1:], 1):
            img = decode(path)
            if img.shape != first.shape:
                raise ValueError(f'InMemoryDataset keeps images of one size; {path} is {img.shape[:2]}, '
                                 f'{paths[0]} is {first.shape[:2]}: resize the dataset first')
            images[i] = img
        return images

    def _load_cache(self, key: str) -> Optional[np.ndarray]:
        if not (self.cache_file and Path(self.cache_file).is_file()):
            return None
        with np.load(self.cache_file) as cache:
            if str(cache['fingerprint']) != key:
                return None  # made from another image list: rebuild
            return cache['images']

    def _save_cache(self, images: np.ndarray, labels: np.ndarray, key: str) -> None:
        if not self.cache_file:
            return
        path = Path(self.cache_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp.npz')
        np.savez(tmp, images=images, labels=labels, fingerprint=np.array(key))
        os.replace(tmp, path)  # another run may be reading the old one

    def __len__(self) -> int:
        self.full_init()
        return len(self.labels)

    def get_data_info(self, idx: int) -> dict:
        self.full_init()
        return self.dataset.get_data_info(idx if self._keep is None else int(self._keep[idx]))

    def __getitem__(self, idx: int) -> dict:
        self.full_init()
        img = self.images[idx]
        sample = DataSample(metainfo=dict(sample_idx=idx, img_shape=tuple(img.shape[1:]),
                                          ori_shape=tuple(img.shape[1:])))
        sample.set_gt_label(self.labels[idx:idx + 1])
        return dict(inputs=img, data_samples=sample)
