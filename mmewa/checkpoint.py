"""Checkpoint I/O without unpickling arbitrary objects, and atomic writes."""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, or needs unsafe unpickling."""


def mmengine_checkpoint_globals() -> list:
    """The non-tensor types MMEngine pickles into its training checkpoints.

    The message hub stores ``HistoryBuffer`` objects (numpy arrays and bound statistic methods, which
    pickle as ``getattr(buffer, 'mean')``). The weights-only unpickler still refuses to *call* anything
    outside its allow-list, so allowing these keeps loading free of arbitrary code execution.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtype_classes = [type(np.dtype(t)) for t in ('float16', 'float32', 'float64', 'int32', 'int64',
                                                   'uint8', 'bool')]
    return [HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar, getattr,
            *dtype_classes]


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` (torch >= 2.6's default) read MMEngine checkpoints.

    MMEngine 0.10 calls ``torch.load`` without ``weights_only``; on torch >= 2.6 that is a weights-only
    load, which rejects its own training checkpoints, so ``--resume`` and ``load_from`` fail. Importing
    ``mmewa`` adds exactly the types above to torch's allow-list instead of falling back to full pickle.
    """
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())


def load_checkpoint(path: str | os.PathLike, map_location: str = 'cpu') -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (plus MMEngine's plain-data types); never full pickle."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint not found: {path}')
    try:
        allow_mmengine_checkpoints()  # idempotent; a context manager would drop them again on exit
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f'{path}: refusing to unpickle objects that are not plain weights ({e}); '
                              'load it once in a trusted session and re-save its state_dict') from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f'{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})') from e
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
