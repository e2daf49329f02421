"""A debug helper: check that every rank holds bit-identical weights (EWA rewrites live weights)."""
from __future__ import annotations

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import nn


@torch.no_grad()
def unsynced_parameters(model: nn.Module) -> list[str]:
    """Names of parameters and buffers whose value on this rank differs from rank 0's (bitwise).

    Every rank must call it (it broadcasts each tensor from rank 0); returns the same list on all ranks.
    Without an initialised process group there is nothing to compare and it returns ``[]``.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return []
    if is_model_wrapper(model):
        model = model.module
    tensors = list(model.state_dict().items())
    flags = torch.zeros(len(tensors), dtype=torch.int32)
    for i, (_, t) in enumerate(tensors):
        reference = t.detach().clone()
        dist.broadcast(reference, src=0)
        flags[i] = int(not torch.equal(reference, t))
    if dist.get_backend() == 'nccl':
        flags = flags.cuda()
    dist.all_reduce(flags)
    return [name for (name, _), f in zip(tensors, flags.tolist()) if f]


@HOOKS.register_module()
class ReplicaSyncHook(Hook):
    """Every ``interval`` iterations (after the optimizer step and EWA), fail loudly if ranks diverged.

    Costs one broadcast of the whole model per check: a debugging aid, e.g.
    ``custom_hooks = [dict(type='EWAHook'), dict(type='ReplicaSyncHook', interval=100)]``.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, interval: int = 100) -> None:
        self.interval = interval
        self.checks = 0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        bad = unsynced_parameters(runner.model)
        self.checks += 1
        if bad:
            raise RuntimeError(f'replicas diverged at iteration {runner.iter + 1}: {len(bad)} tensors differ '
                               f'from rank 0 (e.g. {bad[:3]})')
        runner.logger.info(f'ReplicaSyncHook: all ranks bit-identical at iteration {runner.iter + 1}')
