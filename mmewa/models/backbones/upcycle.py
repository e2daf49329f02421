"""One upcycling mechanism for every EWA twin (backbones, heads, detectors): find its MLPs, give the
selected ones experts.

``moe_type='ewa'`` (default) builds router-free :class:`EWAFFN` layers; ``moe_type='routed'`` builds
:class:`RoutedMoEFFN` layers (a naive, V-MoE-style MoE; with ``EWAHook(end=...)`` it is "Early EWA").
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from torch import nn

from ..layers.ewa_ffn import PARTITIONS, EWAMoE
from ..layers.expert_layer import ExpertLayer, check_num_experts
from ..layers.families import family_of
from ..layers.routed_moe import ROUTING_DEFAULTS, RoutedMoE, check_routing

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
                raise ValueError(f'ewa_cfg.moe_layers index {i!r} is out of range for a module with '
                                 f'{num_layers} layers')
            indices.append(i % num_layers)
        indices = sorted(set(indices))
    if not indices:
        raise ValueError(f'ewa_cfg.moe_layers={moe_layers!r} selects no layer of a {num_layers}-layer '
                         "module; use e.g. 'every_other', 'all' or a non-empty index list")
    return indices


def build_expert_layer(mlp: nn.Module, ewa_cfg: dict) -> nn.Module:
    """The expert layer a normalized ``ewa_cfg`` asks for, upcycled from ``mlp`` (any supported family)."""
    if ewa_cfg['moe_type'] == 'routed':
        return RoutedMoE.from_mlp(mlp, ewa_cfg['num_experts'], **{k: ewa_cfg[k] for k in ROUTING_KEYS})
    return EWAMoE.from_mlp(mlp, ewa_cfg['num_experts'], ewa_cfg['partition'])


def find_mlps(model: nn.Module, within: Sequence[str] = ()) -> list[str]:
    """Names of the transformer MLPs of ``model`` (outermost matches, in definition order).

    ``within``: names of submodules to search, in the order given (e.g. a detector's
    ``('encoder', 'decoder')``: its transformer, not its backbone), so an upstream class whose definition
    order is not its forward order gets its MLPs counted in forward order; empty = the whole model.
    """
    if not within:
        return _find_mlps(model)
    found: list[str] = []
    for prefix in within:
        try:
            sub = model.get_submodule(prefix)
        except AttributeError:
            raise ValueError(f'{type(model).__name__} has no submodule {prefix!r} to search for FFNs '
                             f'(within={tuple(within)})') from None
        found += [f'{prefix}.{name}' if name else prefix for name in _find_mlps(sub)]
    return found


def _find_mlps(model: nn.Module) -> list[str]:
    found: list[str] = []
    for name, m in model.named_modules():
        if any(name.startswith(f + '.') for f in found):
            continue
        if isinstance(m, ExpertLayer) or family_of(m) is not None:
            found.append(name)
    return found


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, attr = name.rpartition('.')
    setattr(model.get_submodule(parent) if parent else model, attr, module)


def upcycle_mlps(model: nn.Module, ewa_cfg: dict, within: Sequence[str] = ()) -> list[int]:
    """Replace the selected MLPs of ``model`` (counted over ``within``, see :func:`find_mlps`; default:
    the whole model) by expert copies of them. Returns the selected indices."""
    names = find_mlps(model, within)
    if not names:
        where = f' (searched {", ".join(within)})' if within else ''
        raise ValueError(f'{type(model).__name__}{where} has no supported transformer MLP (mmcv FFN, '
                         'DeiT3FFN, SwiGLUFFN, timm-style Mlp, token-wise MixFFN) to give experts')
    indices = select_layers(ewa_cfg['moe_layers'], len(names))
    for i in indices:
        _replace(model, names[i], build_expert_layer(model.get_submodule(names[i]), ewa_cfg))
    return indices


@contextlib.contextmanager
def densified(model: nn.Module) -> Iterator[None]:
    """Inside: every expert layer of ``model`` is its collapsed upstream module. On exit each expert becomes
    a copy of what the dense module then holds (parameters updated in place, freezing carried over).

    So the upstream ``init_weights`` (from-scratch init, ``Pretrained`` loading with its key conversions,
    model-specific init such as MAE's ``fix_init_weight``) runs on exactly the upstream structure and draws
    the same random numbers: right after it, the collapsed twin *is* the upstream model, bit for bit.
    """
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, ExpertLayer)]
    dense = [m.to_dense() for _, m in layers]
    for (name, _), d in zip(layers, dense):
        _replace(model, name, d)
    try:
        yield
    except BaseException:
        for name, m in layers:
            _replace(model, name, m)
        raise
    for (name, m), d in zip(layers, dense):
        m.load_dense_(d)
        _replace(model, name, m)


def ewa_twin(upstream: type, name: str | None = None, within: Sequence[str] = ()) -> type:
    """``EWA<Upstream>``: ``upstream`` + ``ewa_cfg``; identical to it in everything but the MoE.

    Its ``__init__`` builds the upstream module, then gives the MLPs that ``ewa_cfg.moe_layers`` selects
    experts; its ``init_weights`` is the upstream one run on the dense structure (:func:`densified`).
    ``within``: the submodules whose MLPs ``moe_layers`` counts, in forward order (:func:`find_mlps`);
    e.g. a detector's transformer, leaving its backbone to a backbone twin. Default: the whole module.
    """
    within = tuple(within)

    def __init__(self, *args, ewa_cfg: dict | None = None, **kwargs) -> None:
        upstream.__init__(self, *args, **kwargs)
        self.ewa_cfg = normalize_ewa_cfg(ewa_cfg)
        self.moe_layer_indices = upcycle_mlps(self, self.ewa_cfg, within)

    def init_weights(self) -> None:
        with densified(self):
            upstream.init_weights(self)

    counted = (f' ``moe_layers`` counts the FFNs of ``{"``, ``".join(within)}``, in that (forward) order.'
               if within else '')
    doc = (f"``{upstream.__module__}.{upstream.__name__}`` + EWA: the same arguments plus ``ewa_cfg`` "
           "(``num_experts``, ``moe_layers``, ``partition`` or ``moe_type='routed'`` with its routing "
           f'options; see docs/options.md).{counted} Loads standard checkpoints; ``tools/convert_ewa.py`` '
           'collapses it back.')
    namespace = dict(__init__=__init__, init_weights=init_weights, __doc__=doc,
                     __module__=upstream.__module__, ewa_within=within)
    return type(name or f'EWA{upstream.__name__}', (upstream,), namespace)
