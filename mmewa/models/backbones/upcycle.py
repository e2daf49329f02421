"""Turning selected FFNs of a built backbone into EWA experts (shared by every EWA backbone)."""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..layers.ewa_ffn import EWAFFN, PARTITIONS

LAYER_SELECTIONS = ('every_other', 'all', 'last_half')
EWA_CFG_KEYS = ('num_experts', 'moe_layers', 'partition')


def normalize_ewa_cfg(ewa_cfg: dict | None) -> dict:
    """Fill defaults and reject unknown keys or bad values with a message naming the fix."""
    cfg = dict(num_experts=4, moe_layers='every_other', partition='batch')
    unknown = set(ewa_cfg or {}) - set(EWA_CFG_KEYS)
    if unknown:
        raise ValueError(f'unknown ewa_cfg key(s) {sorted(unknown)}; valid keys: {list(EWA_CFG_KEYS)}')
    cfg.update(ewa_cfg or {})
    n = cfg['num_experts']
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f'ewa_cfg.num_experts must be an integer >= 1, got {n!r}')
    if cfg['partition'] not in PARTITIONS:
        raise ValueError(f"ewa_cfg.partition must be one of {PARTITIONS}, got {cfg['partition']!r}")
    return cfg


def select_layers(moe_layers: str | Sequence[int], num_layers: int) -> list[int]:
    """Indices of the blocks whose FFN becomes an MoE.

    ``'every_other'`` = odd indices (1, 3, 5, ...; V-MoE's convention, the last block of an even-depth
    network is an MoE), ``'all'``, ``'last_half'`` (indices >= num_layers // 2), or explicit indices
    (negative ones count from the end).
    """
    if isinstance(moe_layers, str):
        if moe_layers not in LAYER_SELECTIONS:
            raise ValueError(f'ewa_cfg.moe_layers must be one of {LAYER_SELECTIONS} or a list of layer '
                             f'indices, got {moe_layers!r}')
        start, step = {'every_other': (1, 2), 'all': (0, 1), 'last_half': (num_layers // 2, 1)}[moe_layers]
        indices = list(range(start, num_layers, step))
    else:
        indices = []
        for i in moe_layers:
            if isinstance(i, bool) or not isinstance(i, int) or not -num_layers <= i < num_layers:
                raise ValueError(f'ewa_cfg.moe_layers index {i!r} is out of range for a backbone with '
                                 f'{num_layers} layers')
            indices.append(i % num_layers)
        indices = sorted(set(indices))
    if not indices:
        raise ValueError(f'ewa_cfg.moe_layers={moe_layers!r} selects no layer of a {num_layers}-layer '
                         "backbone; use e.g. 'every_other', 'all' or a non-empty index list")
    return indices


def upcycle_blocks(blocks: Sequence[nn.Module], ewa_cfg: dict) -> list[int]:
    """Replace ``block.ffn`` of the selected blocks by an :class:`EWAFFN` copy of it; return the indices."""
    indices = select_layers(ewa_cfg['moe_layers'], len(blocks))
    for i in indices:
        blocks[i].ffn = EWAFFN.from_ffn(blocks[i].ffn, ewa_cfg['num_experts'], ewa_cfg['partition'])
    return indices


def init_experts_from_scratch(module: nn.Module, bias_std: float = 0.0) -> None:
    """Init the experts as the parent backbone inits its linears (trunc-normal 0.02), identical copies."""
    from ..layers.experts import StackedLinear
    for m in module.modules():
        if isinstance(m, StackedLinear):
            m.reset_parameters(std=0.02, bias_std=bias_std)
