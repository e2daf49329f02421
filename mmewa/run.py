"""Run an OpenMMLab tool script with mmewa imported before it reads a config.

    python -m mmewa.run SCRIPT [ARGS...]     # e.g. mmseg's tools/train.py CONFIG --work-dir DIR

A config's ``custom_imports`` are applied only after the config is parsed, but its ``mmseg::`` bases are
resolved while it is parsed, and on the OneDL line that needs mmewa's mend of onedl-mmengine's
module->distribution table (``mmewa/utils/stack.py``). mmewa's own ``tools/`` import mmewa first; this does
the same for mmseg's, mmdet's and mmpretrain's scripts (or your own). On the upstream line it is not needed.
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or not Path(argv[0]).is_file():
        what = f'{argv[0]} is not a file' if argv else 'no script given'
        print(f'mmewa.run: {what}; usage: python -m mmewa.run SCRIPT [ARGS...]', file=sys.stderr)
        return 2
    import mmewa  # noqa: F401  (registers the EWA modules and mends config resolution)
    sys.argv = list(argv)
    sys.path.insert(0, str(Path(argv[0]).resolve().parent))  # as `python SCRIPT` would
    runpy.run_path(argv[0], run_name='__main__')
    return 0


if __name__ == '__main__':
    sys.exit(main())
