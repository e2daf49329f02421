"""Datasets for fast small-image training (registered in mmpretrain's scope when it is installed)."""
from __future__ import annotations

from ..models.backbones import installed

__all__: list[str] = []

if 'mmpretrain' in installed:
    from .in_memory import InMemoryDataset  # noqa: F401
    __all__ += ['InMemoryDataset']
