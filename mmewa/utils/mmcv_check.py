"""Fail with one line when mmseg / mmdet are installed next to an mmcv without compiled ops.

``mmcv-lite`` (or an mmcv built without ops) has no ``mmcv._ext``; mmseg's and mmdet's model modules import
``mmcv.ops`` at import time, so ``import mmewa`` would otherwise end in a bare
``ModuleNotFoundError: No module named 'mmcv._ext'`` deep inside mmdet. Imported first by ``mmewa``.
"""
from __future__ import annotations

import importlib.util

FIX = ('install mmcv 2.1.0 with its ops: bash tools/install.sh (it builds only the few ops mmewa uses, '
       'a few minutes on 2 cores)')


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing, or an import hook hides the module
        return False


def missing_mmcv_ops() -> list[str]:
    """The installed libraries among mmseg / mmdet that cannot import because mmcv has no ``_ext``."""
    libraries = [name for name in ('mmseg', 'mmdet') if _installed(name)]
    if not libraries or not _installed('mmcv'):
        return []
    return [] if _installed('mmcv._ext') else libraries


def require_mmcv_ops() -> None:
    libraries = missing_mmcv_ops()
    if libraries:
        raise ImportError(f"{' and '.join(libraries)} need mmcv's compiled ops, but the installed mmcv has "
                          f'none (mmcv-lite?): {FIX}')


require_mmcv_ops()
