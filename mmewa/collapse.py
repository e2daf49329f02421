"""Collapse EWA experts into one FFN per layer, on plain state dicts (no model needed).

An EWA layer stores its experts as ``<layer>.experts.<ffn key>`` tensors of shape ``[E, ...]``; the
collapsed FFN key is ``<layer>.<ffn key>`` = the experts' mean over dim 0. Everything else is kept as is,
so the result has exactly the keys of the standard (upstream) model.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn

from .models.layers.experts import expert_mean

EXPERTS = 'experts'
ROUTER = 'router'


class CollapseError(ValueError):
    """The state dict cannot be collapsed (no experts, or a routed MoE without ``approximate``)."""


def _split_expert_key(key: str) -> tuple[str, str] | None:
    parts = key.split('.')
    if EXPERTS not in parts[:-1]:
        return None
    i = parts.index(EXPERTS)
    return '.'.join(parts[:i]), '.'.join(parts[:i] + parts[i + 1:])


def expert_layer_prefixes(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Prefixes (e.g. ``backbone.layers.1.ffn``) of the EWA/MoE layers in a state dict, in order."""
    seen: dict[str, None] = {}
    for key in state_dict:
        split = _split_expert_key(key)
        if split is not None:
            seen[split[0]] = None
    return list(seen)


def collapse_state_dict(state_dict: Mapping[str, torch.Tensor], *,
                        approximate: bool = False) -> OrderedDict[str, torch.Tensor]:
    """Average every layer's experts into the standard FFN keys; other keys pass through unchanged.

    Args:
        state_dict: model state dict (e.g. ``checkpoint['state_dict']``) with EWA layers.
        approximate: also collapse *routed* MoE layers (keys under ``<layer>.router``) by dropping the
            router and averaging the experts. That changes the model's function (a routed MoE is not an
            average of its experts), so it must be asked for explicitly.

    Raises:
        CollapseError: no expert weights found, or routed layers without ``approximate``.
    """
    prefixes = expert_layer_prefixes(state_dict)
    if not prefixes:
        raise CollapseError("no EWA expert weights found (no '.experts.' keys): "
                            'this is not a checkpoint of an EWA model')
    routers = {p for p in prefixes if any(k.startswith(f'{p}.{ROUTER}.') for k in state_dict)}
    if routers and not approximate:
        raise CollapseError(f'{len(routers)} layer(s) are routed MoE (e.g. {sorted(routers)[0]}): a routed '
                            'MoE is not the average of its experts; pass approximate=True '
                            '(convert_ewa.py --approximate-routed) to collapse it anyway')
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state_dict.items():
        split = _split_expert_key(key)
        if split is not None:
            out[split[1]] = expert_mean(value)
        elif not any(key.startswith(f'{p}.{ROUTER}.') for p in routers):
            out[key] = value
    return out


@torch.no_grad()
def collapse_model(model: nn.Module) -> nn.Module:
    """Replace every ``EWAFFN`` in ``model`` (in place) by the mmcv ``FFN`` of its experts' mean."""
    from .models.layers.ewa_ffn import EWAFFN
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, EWAFFN):
                setattr(module, child_name, child.to_ffn())
    return model
