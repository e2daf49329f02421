"""Record which compiled mmcv ops (``mmcv._ext`` functions) a Python process calls, and on which device.

Put this folder first on ``PYTHONPATH`` and set ``MMEWA_RECORD_MMCV_OPS=<file.jsonl>``: every Python
process started with that environment (pytest, the tools it runs in subprocesses, DDP workers) appends one
JSON line ``{"pid": ..., "calls": {"nms@cpu": 12, ...}}`` to the file when it exits. ``tools/mmcv_ops.py
usage <file.jsonl>`` sums the lines into op names. Without the variable, this module does nothing.
"""
from __future__ import annotations

import atexit
import functools
import json
import os

_RECORD = os.environ.get('MMEWA_RECORD_MMCV_OPS')


def _device(args: tuple, kwargs: dict) -> str:
    for a in (*args, *kwargs.values()):
        dev = getattr(a, 'device', None)
        if dev is not None and hasattr(a, 'dtype'):
            return dev.type
    return 'none'


def _install(path: str) -> None:
    try:
        import mmcv._ext as ext  # noqa: PLC0415 (only when recording)
    except ImportError:
        return
    calls: dict[str, int] = {}

    def wrap(name: str, fn):
        @functools.wraps(fn)
        def recorded(*args, **kwargs):
            key = f'{name}@{_device(args, kwargs)}'
            calls[key] = calls.get(key, 0) + 1
            return fn(*args, **kwargs)
        return recorded

    for name in dir(ext):
        fn = getattr(ext, name)
        if not name.startswith('_') and callable(fn) and not isinstance(fn, type):
            setattr(ext, name, wrap(name, fn))

    def dump() -> None:
        with open(path, 'a') as f:
            f.write(json.dumps(dict(pid=os.getpid(), calls=calls)) + '\n')

    atexit.register(dump)


if _RECORD:
    _install(_RECORD)
