"""Shared by the batched-augmentation tests: real CIFAR-100 images as batches, and the module fixtures that
make mmpretrain's transforms (their oracles) fast and resolvable whatever ran before."""
from __future__ import annotations

from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    """The tensors here are small: one thread is fastest, more only contend for shared cores (4x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module', autouse=True)
def _mmpretrain_scope():
    """mmpretrain's transforms resolve their names in the default scope, which a test of another library may
    have left at mmdet (whose 'Posterize' and 'Contrast' are other transforms)."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def real_images(cifar100_root: Path, n: int) -> np.ndarray:
    """Up to ``n`` real CIFAR-100 images (N, 32, 32, 3) uint8, BGR as LoadImageFromFile gives them."""
    paths = sorted(cifar100_root.glob('*/*/*.png'))[:n]
    assert len(paths) >= 16, f'too few CIFAR-100 images under {cifar100_root}'
    return np.stack([mmcv.imread(str(p)) for p in paths])


def as_batch(images: np.ndarray, n: int) -> torch.Tensor:
    """n images (cycling through the real ones) as a (n, 3, 32, 32) uint8 tensor."""
    return torch.from_numpy(images[np.arange(n) % len(images)]).permute(0, 3, 1, 2).contiguous()


def as_hwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).cpu().numpy()
