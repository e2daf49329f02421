"""MLP families: what an expert layer needs to know about each kind of transformer MLP.

An MLP family says which of the module's children form its *token-wise* MLP (these become the stacked
experts), how that MLP computes (``core``, written once against ``apply`` so it runs grouped, collapsed
and as a per-expert reference), and what the module does after it (``around``: layer scale, drop path,
the identity add; these see whole samples, so they run outside the token partition). Nothing else in
mmewa knows an MLP's internals, and nothing here knows a backbone.

Supported: mmcv ``FFN`` (incl. ``add_identity=False`` and layer scale), mmpretrain ``DeiT3FFN``,
``SwiGLUFFN`` / ``SwiGLUFFNFused``, timm-style MLPs (``fc1`` / ``act`` / ``fc2``, any class whose children
run in order), mmdet's ``MixFFN`` in its token-wise form (``use_conv=False``, PVT v1), and ``MixFFN`` with
its depthwise conv (PVT v2, mmseg's MiT/SegFormer): the conv mixes each token with its neighbours, so this
family's experts take whole cells of the feature map with a halo (``mixffn_experts.py``), and its MLP also
needs the map size (``mlp_args``).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import FFN
from torch import nn

from .experts import Apply, Core, StackedMLP, is_depthwise_conv, is_pointwise_conv, leaves, sequential_core
from .mixffn_experts import StackedConvMLP, sequential_conv_core

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
    # the forward's arguments the MLP itself needs besides ``x`` (a depthwise MixFFN: ``hw_shape``)
    mlp_args: Callable[..., tuple] = lambda *args, **kwargs: ()
    stack: Callable[..., StackedMLP] = StackedMLP  # builds the stacked experts (children, E, core)

    @property
    def spatial(self) -> bool:
        """Whether the MLP mixes neighbouring tokens (its experts take cells of the map, not tokens)."""
        return getattr(self.stack, 'func', self.stack) is StackedConvMLP


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


def has_spatial_conv(module: nn.Module) -> bool:
    """A MixFFN whose ``layers`` hold a conv that is not 1x1 (PVT v2's / SegFormer's depthwise conv)."""
    return any(isinstance(m, nn.Conv2d) and not is_pointwise_conv(m) for m in leaves(module.layers))


def mixffn_hw_shape(hw_shape: tuple[int, int], identity: torch.Tensor | None = None) -> tuple:
    return (tuple(hw_shape),)


def check_depthwise_mixffn(module: nn.Module) -> None:
    """A flat ``layers`` of 1x1 convs, exactly one size-keeping depthwise conv and parameter-free leaves."""
    layers = module.layers
    convs = [m for m in layers if isinstance(m, nn.Conv2d) and not is_pointwise_conv(m)]
    bad = [m for m in convs if not is_depthwise_conv(m)]
    if bad or len(convs) != 1 or any(next(m.children(), None) is not None for m in layers):
        m = (bad or convs)[0]
        raise ValueError(
            f'{type(module).__name__}: mmewa gives experts to a MixFFN whose layers are 1x1 convs around '
            'one depthwise conv that keeps the map size (odd kernel, padding k // 2, stride 1); this one '
            f'has {len(convs)} spatial conv(s), e.g. {m}; leave these layers dense (ewa_cfg.moe_layers)')


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


def _mixffn_classes() -> dict[str, tuple[type, Callable, Callable]]:
    """MixFFN class of each installed library, with that library's own token <-> map conversions."""
    found = {}
    try:
        from mmdet.models.backbones.pvt import MixFFN as DetMixFFN
        from mmdet.models.layers import nchw_to_nlc, nlc_to_nchw
        found['mmdet'] = (DetMixFFN, nlc_to_nchw, nchw_to_nlc)
    except ModuleNotFoundError as e:
        if e.name != 'mmdet':
            raise
    try:
        from mmseg.models.backbones.mit import MixFFN as SegMixFFN
        from mmseg.models.utils import nchw_to_nlc, nlc_to_nchw
        found['mmseg'] = (SegMixFFN, nlc_to_nchw, nchw_to_nlc)
    except ModuleNotFoundError as e:
        if e.name != 'mmseg':
            raise
    return found


def _mixffn_families(lib: str, cls: type, to_nchw: Callable, to_nlc: Callable) -> list[MLPFamily]:
    """The depthwise (spatial) and token-wise forms of one library's MixFFN."""
    layers = lambda module: ('layers',)  # noqa: E731
    spatial = MLPFamily(f'{lib}.MixFFN', lambda m: isinstance(m, cls) and has_spatial_conv(m), layers,
                        sequential_conv_core, mixffn_around, check_depthwise_mixffn, mixffn_hw_shape,
                        functools.partial(StackedConvMLP, to_nchw=to_nchw, to_nlc=to_nlc))
    tokenwise = MLPFamily(f'{lib}.MixFFN(use_conv=False)', lambda m: isinstance(m, cls) and not
                          has_spatial_conv(m), layers, sequential_core, mixffn_around)
    return [spatial, tokenwise]


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
    for lib, (cls, to_nchw, to_nlc) in mix.items():
        families += _mixffn_families(lib, cls, to_nchw, to_nlc)
    families.append(MLPFamily('timm.Mlp', is_sequential_mlp, lambda module: tuple(n for n, _ in
                                                                                 module.named_children()),
                              sequential_core, lambda layer, out, x: out, check_sequential_mlp))
    return tuple(families)


FAMILIES = build_families()


def family_of(module: nn.Module) -> MLPFamily | None:
    """The MLP family of ``module``, or ``None`` if it is not a known transformer MLP."""
    return next((f for f in FAMILIES if f.matches(module)), None)
