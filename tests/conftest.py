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
    """The full set ``name`` if it is there, else its embedded sample (same layout)."""
    path = DATA / name
    if (path / probe).exists():
        return path
    if os.environ.get('MMEWA_REQUIRE_DATA'):
        pytest.fail(f'MMEWA_REQUIRE_DATA is set but the full {name} dataset is not at {path}: put it in '
                    '../shared/data beside the repository or set MMEWA_DATA (unset MMEWA_REQUIRE_DATA to '
                    f'test on {SAMPLES / name})')
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
    """Weizmann Horse has no embedded sample (its licence is unstated), so without it the test is skipped."""
    path = DATA / 'weizmann_horse'
    if (path / 'annotations' / 'instances_train.json').exists():
        return path
    if os.environ.get('MMEWA_REQUIRE_DATA'):
        pytest.fail(f'MMEWA_REQUIRE_DATA is set but the Weizmann Horse dataset is not at {path}')
    pytest.skip(f'needs the Weizmann Horse dataset at {path} (or $MMEWA_DATA/weizmann_horse); it has no '
                'embedded sample because its licence is unstated')


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    """Relative paths in configs and tools resolve as for a user in the repository root."""
    monkeypatch.chdir(ROOT)
