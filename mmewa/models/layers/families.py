"""MLP families: what an expert layer needs to know about each kind of transformer MLP.

An MLP family says which of the module's children form its *token-wise* MLP (these become the stacked
experts), how that MLP computes (``core``, written once against ``apply`` so it runs grouped, collapsed
and as a per-expert reference), and what the module does after it (``around``: layer scale, drop path,
the identity add; these see whole samples, so they run outside the token partition). Nothing else in
mmewa knows an MLP's internals, and nothing here knows a backbone.

Supported: mmcv ``FFN`` (incl. ``add_identity=False`` and layer scale), mmpretrain ``DeiT3FFN``,
``SwiGLUFFN`` / ``SwiGLUFFNFused``, timm-style MLPs (``fc1`` / ``act`` / ``fc2``, any class whose children
run in order), and mmdet's ``MixFFN`` in its token-wise form (``use_conv=False``, PVT v1). ``MixFFN`` with
its 3x3 depthwise conv (PVT v2, mmseg's MiT/SegFormer) is refused: the conv mixes each token with its
neighbours, which a random token partition would give to different experts, so the layer would no longer
be "each token through one expert's MLP".
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import FFN
from torch import nn

from .experts import Apply, Core, is_pointwise_conv, leaves, sequential_core

Around = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class MLPFamily:
    """How to turn one kind of MLP module into experts. ``check`` raises for unsupported variants."""

    name: str
    matches: Callable[[nn.Module], bool]
    core_children: Callable[[nn.Module], tuple[str, ...]]
    core: Core
    around: Around
    check: Callable[[nn.Module], None] = lambda module: None


def ffn_around(layer: nn.Module, out: torch.Tensor, x: torch.Tensor,
               identity: torch.Tensor | None = None) -> torch.Tensor:
    """mmcv ``FFN.forward`` (and ``DeiT3FFN.forward``) after the MLP: layer scale, drop path, identity."""
    out = layer.gamma2(out)
    if not layer.add_identity:
        return layer.dropout_layer(out)
    return (x if identity is None else identity) + layer.dropout_layer(out)


def swiglu_core(stack: nn.Module, x: torch.Tensor, apply: Apply) -> torch.Tensor:
    """``SwiGLUFFN.forward`` up to ``w3``: ``w3(norm(silu(x1) * x2))`` with ``[x1, x2] = w12(x)``."""
    x1, x2 = apply(stack.w12, x).chunk(2, dim=-1)
    return apply(stack.w3, apply(stack.norm, F.silu(x1) * x2))


def swiglu_around(layer: nn.Module, out: torch.Tensor, x: torch.Tensor,
                  identity: torch.Tensor | None = None) -> torch.Tensor:
    out = layer.dropout_layer(layer.gamma2(out))
    if layer.out_dims != layer.embed_dims or not layer.add_identity:
        return out
    return (x if identity is None else identity) + out


def mixffn_around(layer: nn.Module, out: torch.Tensor, x: torch.Tensor, hw_shape: tuple[int, int],
                  identity: torch.Tensor | None = None) -> torch.Tensor:
    """mmdet ``MixFFN.forward`` after its (token-wise) layers: drop path and the identity add."""
    return (x if identity is None else identity) + layer.dropout_layer(out)


def check_tokenwise_mixffn(module: nn.Module) -> None:
    for m in leaves(module.layers):
        if isinstance(m, nn.Conv2d) and not is_pointwise_conv(m):
            raise ValueError(
                f'{type(module).__name__} with a {m.kernel_size[0]}x{m.kernel_size[1]} depthwise conv '
                '(PVT v2, MiT/SegFormer) cannot be given EWA experts: the conv mixes each token with its '
                'neighbours, which a random token partition sends to different experts; use its token-wise '
                'form (use_conv=False, as PVT v1) or leave these layers dense')


def is_sequential_mlp(module: nn.Module) -> bool:
    """timm-style ``Mlp``: ``fc1``, ``fc2`` linears and a forward that runs the children in order."""
    return isinstance(getattr(module, 'fc1', None), nn.Linear) and isinstance(getattr(module, 'fc2', None),
                                                                              nn.Linear)


@torch.no_grad()
def check_sequential_mlp(module: nn.Module) -> None:
    """Refuse an ``fc1``/``fc2`` module whose forward is not its children in order (checked on a probe
    input drawn from a private generator, so the global RNG is untouched)."""
    was_training = module.training
    module.eval()
    try:
        gen = torch.Generator().manual_seed(0)
        ref = module.fc1.weight
        probe = torch.randn(3, module.fc1.in_features, generator=gen).to(ref.device, ref.dtype)
        expected = module(probe)
        got = sequential_core(module, probe, lambda m, x: m(x))
    finally:
        module.train(was_training)
    if expected.shape != got.shape or not torch.allclose(expected, got, rtol=1e-4, atol=1e-5):
        raise ValueError(f'{type(module).__name__} has fc1/fc2 but its forward is not its children run in '
                         'order, so mmewa cannot tell its token-wise MLP apart; give its blocks an mmcv FFN '
                         'or add an MLPFamily for it (mmewa.models.layers.families)')


def _mmpretrain_classes() -> dict[str, type]:
    try:
        from mmpretrain.models.backbones.deit3 import DeiT3FFN
        from mmpretrain.models.utils import SwiGLUFFN
    except ModuleNotFoundError as e:  # mmpretrain is optional
        if e.name != 'mmpretrain':
            raise
        return {}
    return dict(DeiT3FFN=DeiT3FFN, SwiGLUFFN=SwiGLUFFN)


def _mixffn_classes() -> dict[str, type]:
    found = {}
    try:
        from mmdet.models.backbones.pvt import MixFFN as DetMixFFN
        found['mmdet'] = DetMixFFN
    except ModuleNotFoundError as e:
        if e.name != 'mmdet':
            raise
    try:
        from mmseg.models.backbones.mit import MixFFN as SegMixFFN
        found['mmseg'] = SegMixFFN
    except ModuleNotFoundError as e:
        if e.name != 'mmseg':
            raise
    return found


def _isinstance_of(cls: type | None) -> Callable[[nn.Module], bool]:
    return lambda m: cls is not None and isinstance(m, cls)


def build_families() -> tuple[MLPFamily, ...]:
    """The families whose libraries are installed, most specific first."""
    pre = _mmpretrain_classes()
    mix = _mixffn_classes()
    layers = lambda module: ('layers',)  # noqa: E731
    families = [MLPFamily('mmcv.FFN', _isinstance_of(FFN), layers, sequential_core, ffn_around)]
    if pre:
        families += [
            MLPFamily('mmpretrain.DeiT3FFN', _isinstance_of(pre['DeiT3FFN']), layers, sequential_core,
                      ffn_around),
            MLPFamily('mmpretrain.SwiGLUFFN', _isinstance_of(pre['SwiGLUFFN']),
                      lambda module: ('w12', 'norm', 'w3'), swiglu_core, swiglu_around)]
    if 'mmdet' in mix:
        families.append(MLPFamily('mmdet.MixFFN', _isinstance_of(mix['mmdet']), layers, sequential_core,
                                  mixffn_around, check_tokenwise_mixffn))
    if 'mmseg' in mix:
        families.append(MLPFamily('mmseg.MixFFN', _isinstance_of(mix['mmseg']), layers, sequential_core,
                                  mixffn_around, check_tokenwise_mixffn))
    families.append(MLPFamily('timm.Mlp', is_sequential_mlp, lambda module: tuple(n for n, _ in
                                                                                 module.named_children()),
                              sequential_core, lambda layer, out, x: out, check_sequential_mlp))
    return tuple(families)


FAMILIES = build_families()


def family_of(module: nn.Module) -> MLPFamily | None:
    """The MLP family of ``module``, or ``None`` if it is not a known transformer MLP."""
    return next((f for f in FAMILIES if f.matches(module)), None)
