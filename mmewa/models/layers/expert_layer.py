"""Expert layers: any supported MLP module, with its token-wise MLP turned into stacked experts.

An expert layer *is* the upstream MLP module (a subclass of its class, so ``isinstance(layer.ffn, FFN)``
still holds and every attribute around the MLP is the upstream one), whose MLP children moved into
``experts`` as ``[E, ...]`` stacks. The forward is the family's: ``around(mlp(x), x, ...)``, where ``mlp`` is
the MoE in training and the experts' mean in eval. Upcycling a built module swaps its class for the
expert subclass, the way ``torch.nn.utils.parametrize`` injects behaviour into a live module, so the
module keeps its place, its hooks and its non-MLP parameters.

Strategies (how training tokens reach experts) are mixins: :class:`~mmewa.models.layers.ewa_ffn.EWAMoE`
(random uniform partition) and :class:`~mmewa.models.layers.routed_moe.RoutedMoE` (learned router).
"""
from __future__ import annotations

import copy
import functools
from typing import Any, ClassVar

import torch
from torch import nn

from .experts import STACKED_LEAVES, StackedMLP
from .families import MLPFamily, family_of


def check_num_experts(num_experts: int, name: str = 'num_experts') -> int:
    """``num_experts`` must be a real integer >= 1 (``True`` and ``2.0`` are refused)."""
    if isinstance(num_experts, bool) or not isinstance(num_experts, int) or num_experts < 1:
        raise ValueError(f'{name} must be an integer >= 1, got {num_experts!r}')
    return num_experts


def supported_family(module: nn.Module) -> MLPFamily:
    """The MLP family of ``module``; one clear error if it is none mmewa knows."""
    family = family_of(module)
    if family is None:
        raise ValueError(f'{type(module).__name__} is not a supported transformer MLP; supported: mmcv FFN, '
                         'DeiT3FFN, SwiGLUFFN(Fused), timm-style Mlp (fc1/act/fc2), MixFFN')
    return family


class ExpertLayer:
    """Mixin for an upstream MLP class: its token-wise MLP becomes ``num_experts`` stacked experts.

    Subclasses (strategies) implement :meth:`moe_mlp` (training) and :meth:`_setup_strategy`; the
    combined class is made by :func:`expert_class` (e.g. ``EWAFFN`` = EWA strategy + mmcv ``FFN``).
    """

    strategy_attrs: ClassVar[tuple[str, ...]] = ()  # attributes a strategy adds (dropped by to_dense)
    known_classes: ClassVar[dict[type, type]] = {}  # upstream class -> named expert class (e.g. EWAFFN)
    experts: StackedMLP
    num_experts: int

    # -- building --------------------------------------------------------------------------------------
    @classmethod
    def upstream_class(cls) -> type:
        """The plain MLP class this expert layer extends (what :meth:`to_dense` returns)."""
        return next(b for b in cls.__mro__[1:] if not issubclass(b, ExpertLayer) and issubclass(b, nn.Module))

    def _become_experts(self, num_experts: int, **strategy: Any) -> None:
        """Move the family's MLP children into ``experts`` as ``num_experts`` exact copies."""
        family = supported_family(self)
        self.mlp_family = family
        names = family.core_children(self)
        children = {name: getattr(self, name) for name in names}
        self.num_experts = check_num_experts(num_experts)
        stack = family.stack(children, num_experts, family.core)
        # `experts` takes the place of the first MLP child, so state-dict keys keep the upstream order.
        self._modules = {('experts' if n == names[0] else n): (stack if n == names[0] else m)
                         for n, m in self._modules.items() if n == names[0] or n not in names}
        self._setup_strategy(**strategy)

    def _setup_strategy(self, **strategy: Any) -> None:
        raise NotImplementedError

    # -- the protocol EWAHook / collapse use -----------------------------------------------------------
    def expert_parameters(self) -> list[nn.Parameter]:
        """The stacked ``[E, ...]`` tensors EWA averages (the protocol :class:`EWAHook` looks for)."""
        return self.experts.stacked_parameters()

    # -- forward ---------------------------------------------------------------------------------------
    def mlp(self, x: torch.Tensor, *mlp_args) -> torch.Tensor:
        """The MLP alone: the MoE in training, the experts' mean (the deployed MLP) in eval. ``mlp_args``:
        what the family's MLP needs besides the tokens (a depthwise MixFFN: the map size)."""
        return self.moe_mlp(x, *mlp_args) if self.training else self.experts.forward_mean(x, *mlp_args)

    def moe_mlp(self, x: torch.Tensor, *mlp_args) -> torch.Tensor:
        raise NotImplementedError

    def around_mlp(self, mlp_out: torch.Tensor, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        """The upstream forward after its MLP (layer scale, drop path, identity), unchanged."""
        return self.mlp_family.around(self, mlp_out, x, *args, **kwargs)

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return self.around_mlp(self.mlp(x, *self.mlp_family.mlp_args(*args, **kwargs)), x, *args, **kwargs)

    # -- dense <-> experts -----------------------------------------------------------------------------
    @torch.no_grad()
    def to_dense(self) -> nn.Module:
        """The collapsed upstream module (experts averaged), as a new module of the upstream class."""
        dense = copy.deepcopy(self)
        children = dense.experts.mean_children()
        modules: dict[str, nn.Module] = {}
        for name, module in dense._modules.items():  # the dense MLP children go back where `experts` was
            if name == 'experts':
                modules.update(children)
            elif name not in self.strategy_attrs:
                modules[name] = module
        dense._modules = modules
        for attr in ('num_experts', 'mlp_family', *self.strategy_attrs):
            dense.__dict__.pop(attr, None)
        dense.__class__ = self.upstream_class()
        _share_init_info(self, dense)
        return dense.train(self.training)

    to_ffn = to_dense

    def apply(self, fn):
        """``fn`` runs on the dense (collapsed) module, whose result every expert then copies.

        Parent-level initialisers (MMEngine's ``init_cfg=dict(type='TruncNormal', layer='Linear')`` on a
        classifier, timm-style ``model.apply(init_fn)``) reach the MLP through ``apply``: they then see the
        upstream ``nn.Linear`` layers, draw the same random numbers in the same order, and the experts stay
        identical copies, so an EWA model initialises exactly like its standard twin. (A ``fn`` that keeps
        references to the modules it visits, e.g. to hook them, gets the dense copies.)
        """
        dense = self.to_dense()
        dense.apply(fn)
        self.load_dense_(dense)
        return self

    @torch.no_grad()
    def load_dense_(self, dense: nn.Module) -> None:
        """Copy a dense module of the upstream class into this layer in place: every expert becomes its
        MLP, the rest is copied; ``requires_grad`` follows the dense parameters (frozen stays frozen).
        Parameter objects are kept, so an optimizer built on them stays valid."""
        self.load_state_dict(dense.state_dict(), strict=False)
        core = set(self.mlp_family.core_children(dense))
        own = dict(self.named_parameters())
        for name, p in dense.named_parameters():
            target = own.get(f'experts.{name}' if name.split('.')[0] in core else name)
            if target is not None:
                target.requires_grad_(p.requires_grad)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # A standard (dense) checkpoint holds the MLP under its own names (`<prefix>layers.*`): upcycle it
        # into every expert, so `init_cfg=dict(type='Pretrained')` and `load_from` work with ordinary
        # mmseg/mmdet/mmpretrain checkpoints.
        stacked = {k for k, _ in self.experts.named_parameters()}
        if not any(k.startswith(prefix + 'experts.') for k in state_dict):
            for key in [k for k in state_dict if k.startswith(prefix) and k[len(prefix):] in stacked]:
                value = state_dict.pop(key)
                state_dict[prefix + 'experts.' + key[len(prefix):]] = value.unsqueeze(0).expand(
                    self.num_experts, *value.shape)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def _share_init_info(src: nn.Module, dense: nn.Module) -> None:
    """Let MMEngine's ``init_weights`` bookkeeping (one ``_params_init_info`` dict shared by every module
    of the model being initialised) know the dense copy's parameters, as it knows the upstream model's."""
    info = getattr(src, '_params_init_info', None)
    if info is None:
        return
    for m in dense.modules():
        m._params_init_info = info
    for p in dense.parameters():
        if p not in info:
            info[p] = dict(init_info=f'The value is the same before and after calling `init_weights` of '
                                     f'{type(dense).__name__}', tmp_mean_value=p.data.mean().cpu())


@functools.cache
def expert_class(strategy: type, upstream: type) -> type:
    """The expert-layer class ``strategy`` x ``upstream`` (e.g. ``EWAMoE`` x ``FFN``), made once per pair."""
    prefix = getattr(strategy, 'class_prefix', strategy.__name__)
    return type(f'{prefix}{upstream.__name__}', (strategy, upstream), {'__module__': strategy.__module__})


def upcycle(module: nn.Module, strategy: type, num_experts: int, **options: Any) -> nn.Module:
    """An expert copy of ``module`` (any supported MLP): every expert is an exact copy of its MLP."""
    if isinstance(module, ExpertLayer):
        raise ValueError(f'{type(module).__name__} already has experts')
    supported_family(module).check(module)
    layer = copy.deepcopy(module)
    layer.__class__ = strategy.known_classes.get(type(module)) or expert_class(strategy, type(module))
    layer._become_experts(num_experts, **options)
    return layer


__all__ = ['ExpertLayer', 'check_num_experts', 'expert_class', 'supported_family', 'upcycle',
           'STACKED_LEAVES']
