"""Distributed set-up that MMEngine 0.10 gets wrong on CPU-only machines (torchrun + gloo)."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def prepare_cpu_distributed(cfg: Config) -> bool:
    """Make ``launcher='pytorch'`` work without a GPU; a no-op with a GPU or without a launcher.

    MMEngine 0.10's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally and its DDP wrapper
    passes ``device_ids=[LOCAL_RANK]``; both fail on CPU. Here the gloo process group is started first
    (the Runner then skips its own ``init_dist``) and DDP gets ``device_ids=None``. Returns whether it
    changed anything.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                world_size=int(os.environ['WORLD_SIZE']))
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper
    return True
