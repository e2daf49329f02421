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


def _mmengine_safe_globals() -> list:
    """Types MMEngine puts into training checkpoints (message hub, numpy scalars), all plain data."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    from mmengine.logging.message_hub import MessageHub  # noqa: F401 (import check only)
    globals_ = [HistoryBuffer, np.ndarray, np.dtype, np.core.multiarray._reconstruct
                if hasattr(np, 'core') else np._core.multiarray._reconstruct]
    globals_ += [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool')]
    globals_ += [np.float64, np.float32, np.int64, np.int32, np.bool_]
    try:
        globals_.append(np._core.multiarray.scalar)
    except AttributeError:
        globals_.append(np.core.multiarray.scalar)
    return globals_


def load_checkpoint(path: str | os.PathLike, map_location: str = 'cpu') -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (plus MMEngine's plain-data types); never full pickle."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint not found: {path}')
    try:
        with torch.serialization.safe_globals(_mmengine_safe_globals()):
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
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
