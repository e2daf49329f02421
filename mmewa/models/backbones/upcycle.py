"""Turning selected FFNs of a built backbone into expert layers (shared by every EWA backbone).

``moe_type='ewa'`` (default) builds router-free :class:`EWAFFN` layers; ``moe_type='routed'`` builds
:class:`RoutedMoEFFN` layers (a naive, V-MoE-style MoE; with ``EWAHook(end=...)`` it is "Early EWA").
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..layers.ewa_ffn import EWAFFN, PARTITIONS, check_num_experts
from ..layers.routed_moe import ROUTING_DEFAULTS, RoutedMoEFFN, check_routing

LAYER_SELECTIONS = ('every_other', 'all', 'last_half')
MOE_TYPES = ('ewa', 'routed')
ROUTING_KEYS = tuple(ROUTING_DEFAULTS)
EWA_ONLY_KEYS = ('partition',)
EWA_CFG_KEYS = ('moe_type', 'num_experts', 'moe_layers') + EWA_ONLY_KEYS + ROUTING_KEYS


def normalize_ewa_cfg(ewa_cfg: dict | None) -> dict:
    """Fill defaults and reject unknown keys or bad values with a message naming the fix."""
    given = dict(ewa_cfg or {})
    unknown = set(given) - set(EWA_CFG_KEYS)
    if unknown:
        raise ValueError(f'unknown ewa_cfg key(s) {sorted(unknown)}; valid keys: {list(EWA_CFG_KEYS)}')
    moe_type = given.get('moe_type', 'ewa')
    if moe_type not in MOE_TYPES:
        raise ValueError(f'ewa_cfg.moe_type must be one of {MOE_TYPES}, got {moe_type!r}')
    routed = moe_type == 'routed'
    misplaced = sorted(set(given) & set(EWA_ONLY_KEYS if routed else ROUTING_KEYS))
    if misplaced and routed:
        raise ValueError(f"ewa_cfg key(s) {misplaced} only apply to moe_type='ewa' (a routed MoE sends "
                         'tokens where its router says); remove them')
    if misplaced:
        raise ValueError(f"ewa_cfg key(s) {misplaced} configure a router, but moe_type='ewa' (the default) "
                         "has none; set moe_type='routed' or remove them")
    cfg = dict(moe_type=moe_type, num_experts=4, moe_layers='every_other')
    cfg.update(ROUTING_DEFAULTS if routed else dict(partition='batch'))
    cfg.update(given)
    check_num_experts(cfg['num_experts'], 'ewa_cfg.num_experts')
    if routed:
        check_routing(cfg['num_experts'], **{k: cfg[k] for k in ROUTING_KEYS}, prefix='ewa_cfg.')
    elif cfg['partition'] not in PARTITIONS:
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


def build_expert_ffn(ffn: nn.Module, ewa_cfg: dict) -> nn.Module:
    """The expert layer upcycled from ``ffn`` that a normalized ``ewa_cfg`` asks for."""
    if ewa_cfg['moe_type'] == 'routed':
        return RoutedMoEFFN.from_ffn(ffn, ewa_cfg['num_experts'], **{k: ewa_cfg[k] for k in ROUTING_KEYS})
    return EWAFFN.from_ffn(ffn, ewa_cfg['num_experts'], ewa_cfg['partition'])


def upcycle_blocks(blocks: Sequence[nn.Module], ewa_cfg: dict) -> list[int]:
    """Replace ``block.ffn`` of the selected blocks by an expert copy of it; return the indices."""
    indices = select_layers(ewa_cfg['moe_layers'], len(blocks))
    for i in indices:
        blocks[i].ffn = build_expert_ffn(blocks[i].ffn, ewa_cfg)
    return indices


def init_experts_from_scratch(module: nn.Module, bias_std: float = 0.0) -> None:
    """Init the experts as the parent backbone inits its linears (trunc-normal 0.02), identical copies."""
    from ..layers.experts import StackedLinear
    for m in module.modules():
        if isinstance(m, StackedLinear):
            m.reset_parameters(std=0.02, bias_std=bias_std)
