"""EWA's expert layer: a router-free Mixture-of-Experts fed by a random uniform partition of the tokens.

:class:`EWAMoE` is the strategy (works on every MLP family, see ``families.py``); :class:`EWAFFN` is its
named combination with mmcv's ``FFN``, a drop-in for it that can also be built directly.
"""
from __future__ import annotations

import math

import torch
from mmcv.cnn.bricks.transformer import FFN
from torch import nn

from .expert_layer import ExpertLayer, check_num_experts, upcycle
from .partition import random_partition

PARTITIONS = ('batch', 'sample')


def _recomputing() -> bool:
    """Whether this forward runs inside a backward pass, i.e. activation checkpointing recomputes it.

    ``torch.utils.checkpoint`` (reentrant or not) restores the *global* RNG before recomputing, but not a
    private partition generator; the recomputed forward must reuse the partition of the original one.
    """
    if torch.compiler.is_compiling():  # traced graphs: torch.compile handles its own recomputation
        return False
    task_id = getattr(torch._C, '_current_graph_task_id', None)
    return task_id is not None and task_id() != -1


class EWAMoE(ExpertLayer):
    """Training: the tokens are split into ``num_experts`` random groups of equal size (no router, nothing
    dropped) and each expert processes its group. Eval: the experts' mean is applied to every token,
    i.e. exactly the MLP that :func:`mmewa.collapse_state_dict` produces, so eval metrics of the EWA model
    are the deployed model's.

    ``partition``: ``'batch'`` (one random permutation of all tokens of the batch, the default) or
    ``'sample'`` (each sample's tokens are partitioned separately, needs ``[..., L, C]`` input).
    ``partition_generator``: a ``torch.Generator`` for the partition (``None``: the global RNG).
    Under activation checkpointing (``with_cp``) the recomputed forward reuses the layer's last partition.
    """

    class_prefix = 'EWA'
    strategy_attrs = ('partition', 'partition_generator', '_last_partition')
    known_classes: dict[type, type] = {}

    def _setup_strategy(self, partition: str = 'batch') -> None:
        if partition not in PARTITIONS:
            raise ValueError(f'partition must be one of {PARTITIONS}, got {partition!r}')
        self.partition = partition
        self.partition_generator: torch.Generator | None = None
        self._last_partition: tuple | None = None

    def moe_mlp(self, x: torch.Tensor) -> torch.Tensor:
        """Gather each expert's tokens into ``[E, n, C]``, one batched pass, scatter back."""
        C = x.shape[-1]
        if self.partition == 'sample' and x.dim() >= 3:
            groups, tokens = math.prod(x.shape[:-2]), x.shape[-2]
        else:
            groups, tokens = 1, x.numel() // C
        key = (groups, tokens, x.device)
        if _recomputing() and self._last_partition is not None and self._last_partition[0] == key:
            part = self._last_partition[1]  # activation checkpointing re-runs this forward: same partition
        else:
            part = random_partition(tokens, self.num_experts, groups, x.device,
                                    generator=self.partition_generator)
            self._last_partition = (key, part)
        flat = x.reshape(groups * tokens, C)
        grouped = flat.index_select(0, part.gather_index).view(self.num_experts, -1, C)
        out = self.experts(grouped)
        out = out.reshape(-1, out.shape[-1]).index_select(0, part.token_slot)
        return out.view(*x.shape[:-1], out.shape[-1])

    @classmethod
    def from_mlp(cls, mlp: nn.Module, num_experts: int, partition: str = 'batch') -> nn.Module:
        """Upcycle a (trained) MLP of any supported family: every expert is an exact copy of it."""
        return upcycle(mlp, EWAMoE, num_experts, partition=partition)

    def extra_repr(self) -> str:
        return f'num_experts={self.num_experts}, partition={self.partition!r}'


class EWAFFN(EWAMoE, FFN):
    """mmcv ``FFN`` whose MLP is ``num_experts`` stacked experts fed by a random uniform partition.

    Args:
        *args, **kwargs: as mmcv's ``FFN``.
        num_experts: number of experts ``E`` (``1`` is a plain FFN).
        partition: ``'batch'`` or ``'sample'`` (see :class:`EWAMoE`).
    """

    def __init__(self, *args, num_experts: int = 4, partition: str = 'batch', **kwargs) -> None:
        FFN.__init__(self, *args, **kwargs)
        self._become_experts(check_num_experts(num_experts), partition=partition)

    @classmethod
    def from_ffn(cls, ffn: FFN, num_experts: int, partition: str = 'batch') -> EWAFFN:
        """Upcycle a (trained) FFN: every expert is an exact copy of it; the rest is copied as is."""
        return upcycle(ffn, EWAMoE, num_experts, partition=partition)


EWAMoE.known_classes[FFN] = EWAFFN
ExpertFFN = ExpertLayer  # the name of the shared base before MLP families (kept for imports)
