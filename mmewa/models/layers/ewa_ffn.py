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
from .mixffn_experts import DEFAULT_MAX_TILE, choose_tile
from .partition import Partition, random_partition

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

    A MixFFN with its depthwise conv (SegFormer, PVT v2) partitions ``t x t`` cells of the feature map
    instead of single tokens (each expert computes its cells with a halo, so every token is still one
    expert's whole MixFFN; see ``mixffn_experts.py``): ``'batch'`` deals all cells of the batch, ``'sample'``
    each image's cells (every image is split among all experts); ``max_tile`` bounds the cell side.
    """

    class_prefix = 'EWA'
    strategy_attrs = ('partition', 'partition_generator', '_last_partition', 'max_tile')
    known_classes: dict[type, type] = {}

    def _setup_strategy(self, partition: str = 'batch', max_tile: int = DEFAULT_MAX_TILE) -> None:
        if partition not in PARTITIONS:
            raise ValueError(f'partition must be one of {PARTITIONS}, got {partition!r}')
        if isinstance(max_tile, bool) or not isinstance(max_tile, int) or max_tile < 1:
            raise ValueError(f'max_tile must be an integer >= 1, got {max_tile!r}')
        self.partition = partition
        self.partition_generator: torch.Generator | None = None
        self._last_partition: tuple | None = None
        self.max_tile = max_tile

    def draw_partition(self, groups: int, tokens: int, device: torch.device, kind: tuple = ()) -> Partition:
        """A fresh partition of ``groups`` x ``tokens`` units (tokens, or cells of ``kind``), or the last one
        when activation checkpointing recomputes this forward (its RNG restore misses our generator)."""
        key = (groups, tokens, device, *kind)
        if _recomputing() and self._last_partition is not None and self._last_partition[0] == key:
            return self._last_partition[1]
        part = random_partition(tokens, self.num_experts, groups, device, generator=self.partition_generator)
        self._last_partition = (key, part)
        return part

    def cell_partition(self, batch: int, hw_shape: tuple[int, int],
                       device: torch.device) -> tuple[Partition, int, int]:
        """(partition of the cells, cell side, partition groups) of a depthwise MixFFN's ``[B, h, w]``."""
        h, w = hw_shape
        groups = batch if self.partition == 'sample' else 1
        tile = choose_tile(h, w, batch // groups, self.num_experts, self.max_tile)
        cells = (h // tile) * (w // tile) * (batch // groups)
        return self.draw_partition(groups, cells, device, ('cells', tile)), tile, groups

    def moe_mlp(self, x: torch.Tensor, hw_shape: tuple[int, int] | None = None) -> torch.Tensor:
        """Gather each expert's tokens into ``[E, n, C]``, one batched pass, scatter back (a depthwise
        MixFFN, given ``hw_shape``: the same with cells of the map, see ``mixffn_experts.py``)."""
        if hw_shape is not None:
            part, tile, _ = self.cell_partition(x.shape[0], hw_shape, x.device)
            return self.experts(x, hw_shape, part, tile)
        C = x.shape[-1]
        if self.partition == 'sample' and x.dim() >= 3:
            groups, tokens = math.prod(x.shape[:-2]), x.shape[-2]
        else:
            groups, tokens = 1, x.numel() // C
        part = self.draw_partition(groups, tokens, x.device)
        flat = x.reshape(groups * tokens, C)
        grouped = flat.index_select(0, part.gather_index).view(self.num_experts, -1, C)
        out = self.experts(grouped)
        out = out.reshape(-1, out.shape[-1]).index_select(0, part.token_slot)
        return out.view(*x.shape[:-1], out.shape[-1])

    @classmethod
    def from_mlp(cls, mlp: nn.Module, num_experts: int, partition: str = 'batch',
                 max_tile: int = DEFAULT_MAX_TILE) -> nn.Module:
        """Upcycle a (trained) MLP of any supported family: every expert is an exact copy of it."""
        return upcycle(mlp, EWAMoE, num_experts, partition=partition, max_tile=max_tile)

    def extra_repr(self) -> str:
        spatial = f', max_tile={self.max_tile}' if self.mlp_family.spatial else ''
        return f'num_experts={self.num_experts}, partition={self.partition!r}{spatial}'


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
