"""Collapse EWA experts into one FFN per layer, on plain state dicts (no model needed).

An EWA layer stores its experts as ``<layer>.experts.<ffn key>`` tensors of shape ``[E, ...]``; the
collapsed FFN key is ``<layer>.<ffn key>`` = the experts' mean over dim 0. Everything else is kept as is,
so the result has exactly the keys of the standard (upstream) model.

Which layers are mmewa's is recorded in the training checkpoint (``meta['mmewa']``, written by
:class:`~mmewa.engine.EWAHook` and :class:`~mmewa.engine.MoEAuxLossHook`), so an unrelated module that
happens to be called ``experts`` (an MoE head) is left alone. Checkpoints without the record fall back to
the structure of mmewa's layers: an MLP family's first child under ``<layer>.experts.`` (``layers``,
``w12`` or ``fc1``) and one expert count over all of the layer's expert tensors.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .models.layers.experts import expert_mean

EXPERTS = 'experts'
ROUTER = 'router'
META_KEY = 'mmewa'  # checkpoint['meta'][META_KEY] = dict(expert_layers=[...], routed_layers=[...])
# The first MLP child of each family under `experts.` (mmcv FFN / DeiT3FFN / MixFFN, SwiGLU, timm Mlp): a
# layer without a record qualifies only if it has one of these and a consistent leading expert dim.
FAMILY_EXPERTS = tuple(f'{EXPERTS}.{name}.' for name in ('layers', 'w12', 'fc1'))


class CollapseError(ValueError):
    """The state dict cannot be collapsed (no experts, or a routed MoE without ``approximate``)."""


def _child(prefix: str, name: str) -> str:
    return f'{prefix}.{name}' if prefix else name


def find_expert_modules(model: nn.Module) -> dict[str, nn.Module]:
    """mmewa's expert layers (modules with an ``expert_parameters()`` method), by state-dict prefix."""
    return {name: m for name, m in model.named_modules() if callable(getattr(m, 'expert_parameters', None))}


def is_routed(layer: nn.Module) -> bool:
    """A routed MoE layer (it has a learned ``router``), whose function is not its experts' mean."""
    return isinstance(getattr(layer, ROUTER, None), nn.Module)


def expert_layer_record(model: nn.Module) -> dict[str, list[str]]:
    """What :func:`collapse_state_dict` should collapse in ``model``'s state dict, for ``meta['mmewa']``."""
    layers = find_expert_modules(model)
    return dict(expert_layers=list(layers), routed_layers=[n for n, m in layers.items() if is_routed(m)])


def recorded_expert_layers(checkpoint: Mapping) -> list[str] | None:
    """The expert-layer prefixes a training checkpoint recorded, or ``None`` (older checkpoints)."""
    record = (checkpoint.get('meta') or {}).get(META_KEY) or {}
    layers = record.get('expert_layers')
    return None if layers is None else list(layers)


def _legacy_expert_layers(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Unrecorded checkpoints: layers with an MLP family's ``<p>.experts.*`` keys and one expert count."""
    candidates: dict[str, list[str]] = {}
    for key in state_dict:
        parts = key.split('.')
        if EXPERTS in parts[:-1]:
            i = parts.index(EXPERTS)
            candidates.setdefault('.'.join(parts[:i]), []).append(key)
    layers = []
    for prefix, keys in candidates.items():
        start = _child(prefix, EXPERTS) + '.'
        mine = [state_dict[k] for k in keys if k.startswith(start)]
        stacked = any(k.startswith(_child(prefix, f)) for f in FAMILY_EXPERTS for k in keys)
        if stacked and all(t.dim() for t in mine) and len({t.shape[0] for t in mine}) == 1:
            layers.append(prefix)
    return layers


def expert_layer_prefixes(state_dict: Mapping[str, torch.Tensor],
                          layers: Sequence[str] | None = None) -> list[str]:
    """Prefixes (e.g. ``backbone.layers.1.ffn``) of the EWA/MoE layers to collapse, in order.

    ``layers``: the checkpoint's record (:func:`recorded_expert_layers`); each must hold expert keys.
    ``None``: infer them from the key structure (checkpoints written before the record existed).
    """
    if layers is None:
        return _legacy_expert_layers(state_dict)
    for prefix in layers:
        start = _child(prefix, EXPERTS) + '.'
        if not any(k.startswith(start) for k in state_dict):
            raise CollapseError(f"the checkpoint records EWA layer {prefix!r} but its state dict has no "
                                f"'{start}*' keys: the state dict does not belong to this checkpoint")
    return list(layers)


def collapse_state_dict(state_dict: Mapping[str, torch.Tensor], *, layers: Sequence[str] | None = None,
                        approximate: bool = False) -> OrderedDict[str, torch.Tensor]:
    """Average every layer's experts into the standard FFN keys; other keys pass through unchanged.

    Args:
        state_dict: model state dict (e.g. ``checkpoint['state_dict']``) with EWA layers.
        layers: prefixes of the layers to collapse, as recorded in the checkpoint
            (``recorded_expert_layers(checkpoint)``); ``None`` infers them from the keys.
        approximate: also collapse *routed* MoE layers (those with keys under ``<layer>.router``) by
            dropping the router and averaging the experts. That changes the model's function (a routed MoE
            is not an average of its experts), so it must be asked for explicitly.

    Raises:
        CollapseError: no expert weights found, routed layers without ``approximate``, or a layer whose
            expert tensors disagree on the number of experts.
    """
    prefixes = expert_layer_prefixes(state_dict, layers)
    if not prefixes:
        raise CollapseError("no EWA expert weights found (no '.experts.' keys): "
                            'this is not a checkpoint of an EWA model')
    routers = {p for p in prefixes if any(k.startswith(_child(p, ROUTER) + '.') for k in state_dict)}
    if routers and not approximate:
        raise CollapseError(f'{len(routers)} layer(s) are routed MoE (e.g. {sorted(routers)[0]}): a routed '
                            'MoE is not the average of its experts; pass approximate=True '
                            '(convert_ewa.py --approximate-routed) to collapse it anyway')
    expert_starts = {_child(p, EXPERTS) + '.': p for p in prefixes}
    router_starts = tuple(_child(p, ROUTER) + '.' for p in routers)
    counts: dict[str, set[int]] = {}
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state_dict.items():
        start = next((s for s in expert_starts if key.startswith(s)), None)
        if start is not None:
            prefix = expert_starts[start]
            counts.setdefault(prefix, set()).add(value.shape[0] if value.dim() else 0)
            out[_child(prefix, key[len(start):])] = expert_mean(value)
        elif not key.startswith(router_starts):
            out[key] = value
    mixed = {p: c for p, c in counts.items() if len(c) != 1 or 0 in c}
    if mixed:
        prefix, found = next(iter(mixed.items()))
        raise CollapseError(f'layer {prefix!r}: its expert tensors do not share one leading expert '
                            f'dimension (found {sorted(found)}), so they are not stacked experts')
    return out


@torch.no_grad()
def collapse_model(model: nn.Module, *, approximate: bool = False) -> nn.Module:
    """Replace every expert layer of ``model`` (in place) by the dense FFN of its experts' mean.

    Routed MoE layers are refused unless ``approximate`` (as in :func:`collapse_state_dict`), and then
    lose their router.
    """
    layers = find_expert_modules(model)
    routed = [name for name, m in layers.items() if is_routed(m)]
    if routed and not approximate:
        raise CollapseError(f'{len(routed)} layer(s) are routed MoE (e.g. {routed[0]}): a routed MoE is not '
                            'the average of its experts; pass approximate=True to collapse it anyway')
    if '' in layers:
        raise CollapseError('collapse_model replaces expert layers inside a model; to collapse a single '
                            'layer, call its to_dense()')
    for name, layer in layers.items():
        parent_name, _, child_name = name.rpartition('.')
        setattr(model.get_submodule(parent_name), child_name, layer.to_dense())
    return model
