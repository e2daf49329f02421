"""Checkpoint I/O without unpickling arbitrary objects, and atomic writes.

MMEngine 0.10 calls ``torch.load`` without ``weights_only``; on torch >= 2.6 that is a weights-only load,
which rejects MMEngine's own training checkpoints (its message hub pickles numpy arrays and
``HistoryBuffer`` objects), so ``--resume`` and ``load_from`` fail. Rather than widening torch's allow-list
for the whole process, the few types those checkpoints need are allowed only while a checkpoint is being
read: by :func:`load_checkpoint` and by MMEngine's local-file checkpoint loader (which the Runner's
``resume`` / ``load_from`` and ``init_cfg=dict(type='Pretrained')`` go through). Both read with
``torch.load(weights_only=True)`` themselves: the OneDL fork of MMEngine retries a refused file with
``weights_only=False``, so its loader is never handed a file.

Errors keep upstream's contract: each is one line naming the fix, and an instance both of
:class:`CheckpointError` and of the exception torch or MMEngine raises there (``FileNotFoundError`` for a
missing file, torch's ``UnpicklingError``, ``RuntimeError``, ``OSError``, ... for a refused or damaged one),
so ``except`` clauses written for upstream still catch it.
"""
from __future__ import annotations

import functools
import os
import pickle
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

# HistoryBuffer pickles its statistics methods; with torch's pickle protocol 2, a method is written as
# ``getattr(HistoryBuffer, name)``. These are the only attribute look-ups a checkpoint may do.
HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'current', 'mean'})

# The weights-only unpickler's own refusals (as opposed to a malformed pickle stream).
_REFUSALS = ('Unsupported global', 'Trying to call reduce', 'Can only create new object', 'Can only build',
             'is blocked', 'Can only append', 'refusing getattr')

# A legacy (pre-zip) torch.save file starts with its magic number pickled with protocol 2.
_LEGACY_MAGIC = b'\x80\x02\x8a\x0a' + (0x1950a86a20f9469cfc6c).to_bytes(10, 'little')
_ZIP_MAGIC = b'PK\x03\x04'  # torch.save's default container is a zip archive


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, or needs unsafe unpickling.

    Raised in place of an upstream error, it is also an instance of that error's type
    (:func:`checkpoint_error`); its text is always the one-line message (``KeyError`` would quote it).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


@functools.cache
def _error_type(*upstream: type[BaseException]) -> type[CheckpointError]:
    """CheckpointError that is also each ``upstream`` type (memoised: one class per combination)."""
    bases = tuple(cls for cls in upstream if not issubclass(CheckpointError, cls))
    if not bases:
        return CheckpointError
    return type('CheckpointError', (CheckpointError, *bases), {'__module__': __name__})


def checkpoint_error(message: str, *upstream: type[BaseException]) -> CheckpointError:
    """A CheckpointError with ``message`` that is also an instance of each type in ``upstream``.

    A type whose constructor wants more than a message (``UnicodeDecodeError``) is replaced by the
    nearest base class in its MRO that takes one.
    """
    def constructible(cls: type[BaseException]) -> type[BaseException]:
        for base in cls.__mro__:
            try:
                _error_type(base)(message)
            except TypeError:
                continue
            return base
        return CheckpointError

    return _error_type(*(constructible(cls) for cls in upstream))(message)


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stands in for ``builtins.getattr`` while unpickling: it only returns HistoryBuffer's statistics.

    The unpickler cannot call what this returns (the methods are not on the allow-list), and no other
    object's attributes can be reached, so no getattr chain leads to ``builtins`` or ``os``.
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'refusing getattr({obj!r}, {name!r}): only HistoryBuffer statistics '
                                 f'methods ({", ".join(sorted(HISTORY_BUFFER_METHODS))}) may be looked up')


def mmengine_checkpoint_globals() -> list:
    """The non-tensor globals MMEngine pickles into its training checkpoints (message hub state)."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtype_classes = [type(np.dtype(t)) for t in ('float16', 'float32', 'float64', 'int32', 'int64',
                                                   'uint8', 'bool')]
    return [HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar,
            (history_buffer_getattr, 'builtins.getattr'), *dtype_classes]


@contextmanager
def mmengine_globals_allowed() -> Iterator[None]:
    """Allow :func:`mmengine_checkpoint_globals` for weights-only loads inside the block only.

    ``torch.serialization.safe_globals`` would also drop globals that were registered before it on exit,
    so the previous allow-list is restored exactly instead.
    """
    before = torch.serialization.get_safe_globals()
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
    try:
        yield
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(before)


def unpickling_refusal(path: Path | str, error: BaseException) -> str | None:
    """One line for torch's weights-only refusal (naming the global the file asked for), else ``None``."""
    text = str(error)
    if not any(refusal in text for refusal in _REFUSALS):
        return None
    found = re.search(r'GLOBAL ([\w.]+)', text) or re.search(r'global:? ([\w.]+)', text)
    what = f"the global '{found.group(1)}'" if found else 'objects that are not plain weights'
    return (f'{path} asks to run code when unpickled ({what}), which mmewa will not unpickle; if you trust '
            "the file, load it once with torch.load(path, weights_only=False) in a separate session and "
            "re-save only its weights: torch.save({'state_dict': ckpt['state_dict']}, 'clean.pth')")


def _truncated_or_corrupt(path: Path | str, detail: str = '') -> str:
    return f'{path} is truncated or corrupt{detail}: copy or save it again'


def _container_problem(path: Path) -> str | None:
    """What is wrong with a file torch.save cannot have written (neither its zip nor a legacy pickle)."""
    with open(path, 'rb') as f:
        head = f.read(len(_LEGACY_MAGIC))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            if any(name.endswith('data.pkl') for name in zf.namelist()):
                return None
    elif head == _LEGACY_MAGIC:
        return None
    elif head.startswith(_ZIP_MAGIC):  # a zip whose end (central directory) is missing
        return _truncated_or_corrupt(path, ' (a zip archive without its end: an interrupted save or copy?)')
    return f'{path} is not a PyTorch checkpoint (not written by torch.save)'


def _read(path: Path, map_location: Any) -> Any:
    """``torch.load(weights_only=True)`` with MMEngine's checkpoint types allowed; a missing, refused or
    damaged file raises one line that is also an instance of what upstream raises there."""
    if not path.is_file():  # MMEngine's loader raises FileNotFoundError for both; torch.load would
        if path.is_dir():   # raise IsADirectoryError for a folder
            raise checkpoint_error(f'{path} is a directory; give the checkpoint file inside it '
                                   '(e.g. iter_N.pth)', FileNotFoundError, IsADirectoryError)
        raise checkpoint_error(f'checkpoint not found: {path}', FileNotFoundError)
    try:
        with mmengine_globals_allowed():
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001  (a damaged file fails anywhere in torch.load; its type is kept)
        first_line = next(iter(str(e).splitlines()), '')
        message = (_container_problem(path) or unpickling_refusal(path, e)
                   or _truncated_or_corrupt(path, f' ({type(e).__name__}: {first_line})'))
        raise checkpoint_error(message, type(e)) from e


def _load_from_local(filename: str, map_location: Any = None) -> Any:
    """MMEngine's local-file loader (``CheckpointLoader`` prefix ``''``): what upstream's does (``~``
    expanded, any object returned), read by :func:`_read`, so no MMEngine can fall back to full unpickling."""
    return _read(Path(os.path.expanduser(filename)), map_location)


def allow_mmengine_checkpoints() -> None:
    """Let the Runner (``resume``, ``load_from``) and ``Pretrained`` init read MMEngine checkpoints safely.

    Replaces the loader of MMEngine's ``CheckpointLoader`` for local paths (prefix ``''``) by one that
    allows MMEngine's checkpoint types during that load only and never unpickles fully; torch's
    process-wide allow-list is unchanged.
    """
    from mmengine.runner import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local, force=True)


def load_checkpoint(path: str | os.PathLike, map_location: str = 'cpu') -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (plus MMEngine's plain-data types); never full pickle."""
    path = Path(path)
    ckpt = _read(path, map_location)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path}: expected a dict checkpoint, got {type(ckpt).__name__}')
    return ckpt


def state_dict_of(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model weights of an MMEngine checkpoint (``state_dict``) or of a bare state dict."""
    sd = ckpt.get('state_dict', ckpt)
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError('checkpoint holds no state_dict of tensors')
    return sd


def save_checkpoint_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the target folder, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
