"""Shared fixtures: the repository root and the real datasets in ../shared/data (or $MMEWA_DATA)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MMEWA_DATA', ROOT.parent / 'shared' / 'data'))


def _dataset(name: str, probe: str) -> Path:
    path = DATA / name
    if not (path / probe).exists():
        reason = (f'needs the real {name} dataset at {path} (../shared/data beside the repository, or set '
                  'MMEWA_DATA); a plain clone does not have it, CI does')
        if os.environ.get('MMEWA_REQUIRE_DATA'):
            pytest.fail(reason + ' [MMEWA_REQUIRE_DATA is set]')
        pytest.skip(reason)
    return path


@pytest.fixture(scope='session')
def camvid_root() -> Path:
    return _dataset('camvid', 'img_dir/train')


@pytest.fixture(scope='session')
def coco128_root() -> Path:
    return _dataset('coco128', 'annotations/instances_train.json')


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    """Relative paths in configs and tools resolve as for a user in the repository root."""
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope='session')
def cifar100_root() -> Path:
    return _dataset('cifar100', 'train')
