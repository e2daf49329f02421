"""Which OpenMMLab line is installed, and the one mend its config resolution needs.

The upstream line (``mmengine``, ``mmsegmentation``, ``mmdet``, ...) and the maintained OneDL forks
(``onedl-mmengine``, ``onedl-mmsegmentation``, ...) share import names but not distribution names.
MMEngine resolves a ``_base_ = 'mmseg::...'`` config through its ``MODULE2PACKAGE`` table (module ->
distribution), and onedl-mmengine 0.10.12 still maps ``mmseg`` to ``mmsegmentation``, which the OneDL line
does not install, so every ``mmseg::`` base fails to resolve there (an upstream bug). Importing mmewa points
each entry whose distribution is absent at the distribution that really provides the module; entries that
resolve already (all of them on the upstream line) are left alone. Config bases are resolved when a
config file is parsed, so mmewa must be imported first: ``tools/train.py`` and ``tools/test.py`` do.
"""
from __future__ import annotations

from importlib import metadata

STACKS = {'openmmlab': 'mmengine', 'onedl': 'onedl-mmengine'}  # line -> its mmengine distribution


def _installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def installed_stack() -> str | None:
    """``'openmmlab'`` or ``'onedl'``: the line whose mmengine distribution is installed (None: neither)."""
    return next((stack for stack, dist in STACKS.items() if _installed(dist)), None)


def config_package_fixes(module2package: dict[str, str]) -> dict[str, str]:
    """module -> installed distribution, for each entry of ``module2package`` whose distribution is not
    installed while another installed one provides the module (OneDL: mmseg -> onedl-mmsegmentation)."""
    provided = metadata.packages_distributions()
    fixes = {}
    for module, dist in module2package.items():
        others = [d for d in provided.get(module, ()) if d != dist]
        if others and not _installed(dist):
            fixes[module] = sorted(others)[0]
    return fixes


def resolve_config_packages() -> dict[str, str]:
    """Apply :func:`config_package_fixes` to MMEngine's table (in place; idempotent); returns what changed."""
    from mmengine.config.utils import MODULE2PACKAGE
    fixes = config_package_fixes(MODULE2PACKAGE)
    MODULE2PACKAGE.update(fixes)
    return fixes
