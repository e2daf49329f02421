"""Stacked expert weights: ``E`` copies of an MLP's parameters stored as ``[E, ...]`` tensors.

Stacking (instead of ``E`` separate modules) makes the MoE forward one batched matmul per layer and makes
EWA's averaging a reduction over dim 0. A stacked MLP mirrors the dense MLP's module tree, so its
state-dict keys are the dense keys under ``experts.``; collapsing is "drop ``experts.``, average dim 0".

Every stacked leaf has three forwards, so an MLP family's token-wise function is written once and run
three ways (see :class:`StackedMLP`):

* ``forward(x)``: grouped, ``x`` is ``[E, n, C]`` and expert ``e`` processes ``x[e]`` (training, fast);
* ``forward_mean(x)``: the collapsed leaf (experts averaged) on ``[..., C]`` (eval = the deployed model);
* ``forward_expert(x, e)``: expert ``e`` alone on ``[..., C]`` (the slow reference, a loop over experts).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn

Apply = Callable[[nn.Module, torch.Tensor], torch.Tensor]
Core = Callable[[nn.Module, torch.Tensor, Apply], torch.Tensor]


def expert_mean(stacked: torch.Tensor) -> torch.Tensor:
    """The experts' mean over dim 0, summed in float64 and rounded once.

    Correct rounding makes the mean of identical experts exactly that expert, so upcycling then
    collapsing is bit-exact. Used by the eval forward and by collapse alike, so they agree bit for bit.
    """
    return stacked.double().mean(0).to(stacked.dtype)


class _StackedLinearFn(torch.autograd.Function):
    """``baddbmm`` forward; a backward that writes the weight gradient straight in ``[E, out, in]``.

    Autograd's ``bmm`` formula for ``x @ W.transpose(1, 2)`` produces the weight gradient as
    ``[E, in, out]`` and ``AccumulateGrad`` then copies it into the weight's layout: on CPU that copy
    cost as much as the matmul itself (BENCHMARKS.md). Under autocast the forward's matmul runs in low
    precision; the backward computes in the gradient's dtype and returns each gradient in its input's.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.bias_dtype = None if bias is None else bias.dtype
        if bias is None:
            return torch.bmm(x, weight.transpose(1, 2))
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.bmm(grad, weight.to(grad.dtype)).to(x.dtype)
        if ctx.needs_input_grad[1]:
            grad_w = torch.bmm(grad.transpose(1, 2), x.to(grad.dtype)).to(weight.dtype)
        if ctx.bias_dtype is not None and ctx.needs_input_grad[2]:
            grad_b = grad.sum(1).to(ctx.bias_dtype)
        return grad_x, grad_w, grad_b


def is_depthwise_conv(m: nn.Module) -> bool:
    """A depthwise ``Conv2d`` that keeps the map size (odd square kernel, ``padding = k // 2`` zeros, stride
    and dilation 1): MixFFN's positional conv (SegFormer, PVT v2)."""
    if not isinstance(m, nn.Conv2d):
        return False
    k = m.kernel_size[0]
    return (m.kernel_size == (k, k) and k % 2 == 1 and m.in_channels == m.out_channels == m.groups
            and m.stride == (1, 1) and m.dilation == (1, 1) and m.padding == (k // 2, k // 2)
            and m.padding_mode == 'zeros')


def is_pointwise_conv(m: nn.Module) -> bool:
    """A 1x1, stride-1, ungrouped, unpadded ``Conv2d``: a linear layer applied to every pixel."""
    return (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride == (1, 1) and m.groups == 1
            and m.dilation == (1, 1) and m.padding in ((0, 0), 'valid'))


class StackedLinear(nn.Module):
    """``num_experts`` linear layers with weights ``[E, out, in]`` and biases ``[E, out]``.

    ``weight_shape`` keeps the dense layer's own weight shape (``(out, in, 1, 1)`` for a pointwise
    ``Conv2d``), so collapsed keys load into the dense module; the maths is a linear map either way.
    """

    def __init__(self, num_experts: int, in_features: int, out_features: int, bias: bool = True,
                 weight_shape: tuple[int, ...] | None = None, _init: bool = True) -> None:
        super().__init__()
        self.num_experts, self.in_features, self.out_features = num_experts, in_features, out_features
        self.weight_shape = tuple(weight_shape or (out_features, in_features))
        self.weight = nn.Parameter(torch.empty(num_experts, *self.weight_shape))
        self.bias = nn.Parameter(torch.empty(num_experts, out_features)) if bias else None
        if _init:
            self.reset_parameters()

    @classmethod
    def from_linear(cls, linear: nn.Linear | nn.Conv2d, num_experts: int) -> StackedLinear:
        """Every expert starts as an exact copy of ``linear`` (or a pointwise conv). Draws no random numbers,
        so building an EWA twin consumes the global RNG exactly like building its upstream model."""
        if isinstance(linear, nn.Conv2d):
            in_f, out_f = linear.in_channels, linear.out_channels
        else:
            in_f, out_f = linear.in_features, linear.out_features
        m = cls(num_experts, in_f, out_f, linear.bias is not None, tuple(linear.weight.shape), _init=False)
        m.to(device=linear.weight.device, dtype=linear.weight.dtype)
        with torch.no_grad():
            m.weight.copy_(linear.weight.expand_as(m.weight))
            m.weight.requires_grad_(linear.weight.requires_grad)
            if m.bias is not None:
                m.bias.copy_(linear.bias.expand_as(m.bias))
                m.bias.requires_grad_(linear.bias.requires_grad)
        return m

    @torch.no_grad()
    def reset_parameters(self, std: float = 0.02, bias_std: float = 0.0) -> None:
        """Truncated-normal init (as ViT/Swin do for linears), one draw copied to every expert."""
        nn.init.trunc_normal_(self.weight[0], std=std, a=-2 * std, b=2 * std)
        self.weight.copy_(self.weight[:1].expand_as(self.weight))
        if self.bias is not None:
            nn.init.normal_(self.bias[0], std=bias_std) if bias_std > 0 else self.bias[0].zero_()
            self.bias.copy_(self.bias[:1].expand_as(self.bias))

    def _weight3(self) -> torch.Tensor:
        return self.weight.view(self.num_experts, self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Grouped forward: ``x`` is ``[E, n, in]``, expert ``e`` processes ``x[e]``."""
        return _StackedLinearFn.apply(x, self._weight3(), self.bias)

    def forward_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Forward of the collapsed layer (mean of the experts) on ``[..., in]``."""
        bias = None if self.bias is None else expert_mean(self.bias)
        return F.linear(x, expert_mean(self._weight3()), bias)

    def forward_expert(self, x: torch.Tensor, e: int) -> torch.Tensor:
        return F.linear(x, self._weight3()[e], None if self.bias is None else self.bias[e])

    def to_dense(self) -> nn.Module:
        """The collapsed ``nn.Linear`` (or pointwise ``nn.Conv2d``), as a new module."""
        # skip_init: no throw-away random init, so collapsing draws no numbers from the global RNG
        kw = dict(bias=self.bias is not None, device=self.weight.device, dtype=self.weight.dtype)
        if len(self.weight_shape) == 4:
            dense = nn.utils.skip_init(nn.Conv2d, self.in_features, self.out_features, 1, **kw)
        else:
            dense = nn.utils.skip_init(nn.Linear, self.in_features, self.out_features, **kw)
        return _fill_with_mean(self, dense)

    def extra_repr(self) -> str:
        return (f'num_experts={self.num_experts}, in_features={self.in_features}, '
                f'out_features={self.out_features}, bias={self.bias is not None}')


class StackedLayerNorm(nn.Module):
    """``num_experts`` LayerNorms over the last dim (e.g. the sub-LN inside EVA-02's SwiGLU FFN)."""

    def __init__(self, norm: nn.LayerNorm, num_experts: int) -> None:
        super().__init__()
        if len(norm.normalized_shape) != 1:
            raise ValueError(f'experts of a LayerNorm over {tuple(norm.normalized_shape)} are not supported: '
                             'only a LayerNorm over the last dimension (the channels) is token-wise')
        self.num_experts, self.eps = num_experts, norm.eps
        self.normalized_shape = tuple(norm.normalized_shape)
        self.elementwise_affine = norm.weight is not None
        self.has_bias = norm.bias is not None
        with torch.no_grad():
            self.weight = (nn.Parameter(norm.weight.detach().expand(num_experts, -1).clone(),
                                        requires_grad=norm.weight.requires_grad)
                           if self.elementwise_affine else None)
            self.bias = (nn.Parameter(norm.bias.detach().expand(num_experts, -1).clone(),
                                      requires_grad=norm.bias.requires_grad) if self.has_bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x, self.normalized_shape, None, None, self.eps)
        if self.weight is not None:
            y = y * self.weight.unsqueeze(1)
        if self.bias is not None:
            y = y + self.bias.unsqueeze(1)
        return y

    def forward_mean(self, x: torch.Tensor) -> torch.Tensor:
        w = None if self.weight is None else expert_mean(self.weight)
        b = None if self.bias is None else expert_mean(self.bias)
        return F.layer_norm(x, self.normalized_shape, w, b, self.eps)

    def forward_expert(self, x: torch.Tensor, e: int) -> torch.Tensor:
        w = None if self.weight is None else self.weight[e]
        b = None if self.bias is None else self.bias[e]
        return F.layer_norm(x, self.normalized_shape, w, b, self.eps)

    def to_dense(self) -> nn.LayerNorm:
        ref = self.weight if self.weight is not None else self.bias
        kw = {} if ref is None else dict(device=ref.device, dtype=ref.dtype)
        dense = nn.LayerNorm(self.normalized_shape, self.eps, self.elementwise_affine, bias=self.has_bias,
                             **kw)
        return _fill_with_mean(self, dense)

    def extra_repr(self) -> str:
        return f'num_experts={self.num_experts}, normalized_shape={self.normalized_shape}, eps={self.eps}'


class StackedDWConv(nn.Module):
    """``num_experts`` depthwise ``k x k`` convolutions: weights ``[E, ch, 1, k, k]``, biases ``[E, ch]``.

    ``forward`` is the grouped (training) form on ``[n, E * ch, h + k - 1, w + k - 1]`` maps whose halo is
    already there (a *valid* convolution; see ``mixffn_experts.py``); ``forward_mean`` / ``forward_expert``
    are the upstream zero-padded convolution on ``[B, ch, h, w]``.
    """

    def __init__(self, conv: nn.Conv2d, num_experts: int) -> None:
        super().__init__()
        self.num_experts, self.channels, self.kernel = num_experts, conv.in_channels, conv.kernel_size[0]
        self.padding = self.kernel // 2
        with torch.no_grad():
            weight = conv.weight.detach().unsqueeze(0).expand(num_experts, *conv.weight.shape)
            self.weight = nn.Parameter(weight.clone(), requires_grad=conv.weight.requires_grad)
            self.bias = (None if conv.bias is None else
                         nn.Parameter(conv.bias.detach().expand(num_experts, -1).clone(),
                                      requires_grad=conv.bias.requires_grad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        E, ch, k = self.num_experts, self.channels, self.kernel
        bias = None if self.bias is None else self.bias.reshape(E * ch)
        return F.conv2d(x, self.weight.reshape(E * ch, 1, k, k), bias, groups=E * ch)

    def forward_mean(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else expert_mean(self.bias)
        return F.conv2d(x, expert_mean(self.weight), bias, padding=self.padding, groups=self.channels)

    def forward_expert(self, x: torch.Tensor, e: int) -> torch.Tensor:
        bias = None if self.bias is None else self.bias[e]
        return F.conv2d(x, self.weight[e], bias, padding=self.padding, groups=self.channels)

    def to_dense(self) -> nn.Conv2d:
        kw = dict(bias=self.bias is not None, device=self.weight.device, dtype=self.weight.dtype)
        dense = nn.utils.skip_init(nn.Conv2d, self.channels, self.channels, self.kernel, padding=self.padding,
                                   groups=self.channels, **kw)
        return _fill_with_mean(self, dense)

    def extra_repr(self) -> str:
        return (f'num_experts={self.num_experts}, channels={self.channels}, kernel_size={self.kernel}, '
                f'bias={self.bias is not None}')


STACKED_LEAVES = (StackedLinear, StackedLayerNorm, StackedDWConv)


@torch.no_grad()
def _fill_with_mean(stacked: nn.Module, dense: nn.Module) -> nn.Module:
    """``dense`` (a stacked leaf's collapsed module) gets each parameter's experts' mean, by name, and is
    frozen where the experts are."""
    for name, p in stacked.named_parameters():
        getattr(dense, name).copy_(expert_mean(p)).requires_grad_(p.requires_grad)
    return dense


def _stack_leaf(m: nn.Module, num_experts: int, spatial: bool = False) -> nn.Module:
    if isinstance(m, nn.Linear) or is_pointwise_conv(m):
        return StackedLinear.from_linear(m, num_experts)
    if isinstance(m, nn.LayerNorm):
        return StackedLayerNorm(m, num_experts)
    if spatial and is_depthwise_conv(m):
        return StackedDWConv(m, num_experts)
    if next(m.parameters(recurse=False), None) is not None:
        extra = (' (a spatial convolution mixes neighbouring tokens, so no token partition keeps each '
                 "token's computation inside one expert; only MixFFN's size-keeping depthwise conv has "
                 'experts, see mixffn_experts.py)' if isinstance(m, nn.Conv2d) else '')
        raise ValueError(f'cannot make experts of a {type(m).__name__} inside an MLP: only Linear, 1x1 '
                         f'Conv2d and LayerNorm layers can be stacked{extra}')
    return m


def stack_module(module: nn.Module, num_experts: int, spatial: bool = False) -> nn.Module:
    """A copy of ``module`` with every parameterised leaf replaced by its ``E``-expert stack (``spatial``:
    size-keeping depthwise convs too, for a MixFFN)."""
    module = copy.deepcopy(module)
    if not next(module.children(), None):
        return _stack_leaf(module, num_experts, spatial)
    for name, child in list(module.named_children()):
        setattr(module, name, stack_module(child, num_experts, spatial))
    return module


@torch.no_grad()
def unstack_module(module: nn.Module) -> nn.Module:
    """A copy of a stacked module with every stacked leaf collapsed to the experts' mean."""
    if isinstance(module, STACKED_LEAVES):
        return module.to_dense()
    module = copy.deepcopy(module)
    for name, child in list(module.named_children()):
        setattr(module, name, unstack_module(child))
    return module


def grouped(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return m(x)


def mean(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return m.forward_mean(x) if isinstance(m, STACKED_LEAVES) else m(x)


def one_expert(e: int) -> Apply:
    return lambda m, x: m.forward_expert(x, e) if isinstance(m, STACKED_LEAVES) else m(x)


def leaves(module: nn.Module) -> Iterator[nn.Module]:
    """Leaves of a (nested) module tree in definition order (= execution order for a ``Sequential``)."""
    return (m for m in module.modules() if not next(m.children(), None))


def sequential_core(stack: nn.Module, x: torch.Tensor, apply: Apply) -> torch.Tensor:
    """The token-wise function of an MLP whose leaves run one after the other (mmcv ``FFN.layers``, ...)."""
    for m in leaves(stack):
        if m is not stack:
            x = apply(m, x)
    return x


class StackedMLP(nn.Module):
    """The stacked copy of an MLP's token-wise modules (``children``, stored under their own names).

    ``core(stack, x, apply)`` is the MLP family's token-wise function written once in terms of
    ``apply(leaf, x)``; the three forwards below run it grouped, collapsed, or one expert at a time.
    """

    spatial = False  # whether a size-keeping depthwise conv may be stacked (see StackedConvMLP)

    def __init__(self, children: Mapping[str, nn.Module] | nn.Module, num_experts: int,
                 core: Core = sequential_core) -> None:
        super().__init__()
        if isinstance(children, nn.Module):  # a single Sequential, stored as `layers` (mmcv FFN's name)
            children = {'layers': children}
        self.num_experts = num_experts
        self.core = core
        for name, child in children.items():
            self.add_module(name, stack_module(child, num_experts, self.spatial))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Grouped forward on ``[E, n, C]`` (training: each expert sees its own tokens)."""
        return self.core(self, x, grouped)

    def forward_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Forward of the collapsed MLP (experts averaged) on ``[..., C]``."""
        return self.core(self, x, mean)

    def forward_reference(self, x_per_expert: list[torch.Tensor]) -> list[torch.Tensor]:
        """Slow reference: a Python loop over experts, each running its own weights on its own tokens."""
        return [self.core(self, x, one_expert(e)) for e, x in enumerate(x_per_expert)]

    def stacked_parameters(self) -> list[torch.Tensor]:
        return [p for m in self.modules() if isinstance(m, STACKED_LEAVES) for p in m.parameters()]

    def mean_children(self) -> dict[str, nn.Module]:
        """The dense modules the experts collapse to (experts averaged), by name."""
        return {name: unstack_module(child) for name, child in self.named_children()}

    def mean_layers(self) -> nn.Module:
        """The collapsed ``layers`` (for the mmcv ``FFN`` family)."""
        return self.mean_children()['layers']

    def extra_repr(self) -> str:
        return f'num_experts={self.num_experts}, core={getattr(self.core, "__name__", self.core)}'
