"""Shared fixtures: the repository root and real data: the full datasets in ../shared/data (or
$MMEWA_DATA) when present, else the small samples committed in samples/ (so a fresh clone runs every test).
With MMEWA_REQUIRE_DATA=1 (CI) the full sets are required, so CI keeps testing on them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('MMEWA_DATA', ROOT.parent / 'shared' / 'data'))
SAMPLES = ROOT / 'samples'


def _dataset(name: str, probe: str) -> Path:
    """The full set ``name`` if it is there, else its embedded sample (same layout), else a skip."""
    path = DATA / name
    if (path / probe).exists():
        return path
    if os.environ.get('MMEWA_REQUIRE_DATA'):
        pytest.fail(f'MMEWA_REQUIRE_DATA is set but the full {name} dataset is not at {path}: put it in '
                    '../shared/data beside the repository or set MMEWA_DATA (unset MMEWA_REQUIRE_DATA to '
                    f'test on {SAMPLES / name})')
    if not (SAMPLES / name).exists():
        pytest.skip(f'needs the {name} dataset at {path} (or $MMEWA_DATA/{name}); it has no sample in '
                    f'{SAMPLES} (see samples/README.md)')
    return SAMPLES / name


@pytest.fixture(scope='session')
def camvid_root() -> Path:
    return _dataset('camvid', 'img_dir/train')


@pytest.fixture(scope='session')
def coco128_root() -> Path:
    return _dataset('coco128', 'annotations/instances_train.json')


@pytest.fixture(scope='session')
def cifar100_root() -> Path:
    return _dataset('cifar100', 'classes.txt')


@pytest.fixture(scope='session')
def horse_root() -> Path:
    return _dataset('weizmann_horse', 'annotations/instances_train.json')  # no sample: licence unstated


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    """Relative paths in configs and tools resolve as for a user in the repository root."""
    monkeypatch.chdir(ROOT)
