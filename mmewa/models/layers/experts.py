"""Stacked expert weights: ``E`` copies of an FFN stored as ``[E, out, in]`` tensors.

Stacking (instead of ``E`` separate modules) makes the MoE forward one batched matmul per layer and makes
EWA's averaging a reduction over dim 0. The stacked MLP mirrors the FFN's module tree, so its state-dict
keys are the FFN's keys under ``experts.``; collapsing is "drop ``experts.``, average dim 0".
"""
from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


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


class StackedLinear(nn.Module):
    """``num_experts`` linear layers with weights ``[E, out, in]`` and biases ``[E, out]``."""

    def __init__(self, num_experts: int, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.num_experts, self.in_features, self.out_features = num_experts, in_features, out_features
        self.weight = nn.Parameter(torch.empty(num_experts, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(num_experts, out_features)) if bias else None
        self.reset_parameters()

    @classmethod
    def from_linear(cls, linear: nn.Linear, num_experts: int) -> StackedLinear:
        """Every expert starts as an exact copy of ``linear`` (upcycling)."""
        m = cls(num_experts, linear.in_features, linear.out_features, linear.bias is not None)
        m.to(device=linear.weight.device, dtype=linear.weight.dtype)
        with torch.no_grad():
            m.weight.copy_(linear.weight.expand_as(m.weight))
            if m.bias is not None:
                m.bias.copy_(linear.bias.expand_as(m.bias))
        return m

    @torch.no_grad()
    def reset_parameters(self, std: float = 0.02, bias_std: float = 0.0) -> None:
        """Truncated-normal init (as ViT/Swin do for linears), one draw copied to every expert."""
        nn.init.trunc_normal_(self.weight[0], std=std, a=-2 * std, b=2 * std)
        self.weight.copy_(self.weight[:1].expand_as(self.weight))
        if self.bias is not None:
            nn.init.normal_(self.bias[0], std=bias_std) if bias_std > 0 else self.bias[0].zero_()
            self.bias.copy_(self.bias[:1].expand_as(self.bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Grouped forward: ``x`` is ``[E, n, in]``, expert ``e`` processes ``x[e]``."""
        return _StackedLinearFn.apply(x, self.weight, self.bias)

    def forward_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Forward of the collapsed layer (mean of the experts) on ``[..., in]``."""
        bias = None if self.bias is None else expert_mean(self.bias)
        return F.linear(x, expert_mean(self.weight), bias)

    def extra_repr(self) -> str:
        return (f'num_experts={self.num_experts}, in_features={self.in_features}, '
                f'out_features={self.out_features}, bias={self.bias is not None}')


class StackedMLP(nn.Module):
    """An FFN's ``layers`` with every ``nn.Linear`` replaced by a :class:`StackedLinear`."""

    def __init__(self, layers: nn.Module, num_experts: int) -> None:
        super().__init__()
        self.num_experts = num_experts
        self.layers = _stack_linears(copy.deepcopy(layers), num_experts)

    def _leaves(self) -> Iterator[nn.Module]:
        # Leaves of a (nested) Sequential in definition order = execution order.
        return (m for m in self.layers.modules() if not next(m.children(), None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Grouped forward on ``[E, n, C]`` (training: each expert sees its own tokens)."""
        for m in self._leaves():
            x = m(x)
        return x

    def forward_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Forward of the collapsed FFN (experts averaged) on ``[..., C]``."""
        for m in self._leaves():
            x = m.forward_mean(x) if isinstance(m, StackedLinear) else m(x)
        return x

    def stacked_parameters(self) -> list[torch.Tensor]:
        return [p for m in self.layers.modules() if isinstance(m, StackedLinear) for p in m.parameters()]

    def mean_layers(self) -> nn.Module:
        """A copy of the FFN ``layers`` with each stacked linear collapsed to the experts' mean."""
        return _unstack_linears(copy.deepcopy(self.layers))

    def forward_reference(self, x_per_expert: list[torch.Tensor]) -> list[torch.Tensor]:
        """Slow reference: a Python loop over experts with ``F.linear`` on each expert's slice."""
        outs = []
        for e, x in enumerate(x_per_expert):
            for m in self._leaves():
                if isinstance(m, StackedLinear):
                    x = F.linear(x, m.weight[e], None if m.bias is None else m.bias[e])
                else:
                    x = m(x)
            outs.append(x)
        return outs


def _stack_linears(module: nn.Module, num_experts: int) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, StackedLinear.from_linear(child, num_experts))
        else:
            _stack_linears(child, num_experts)
    return module


@torch.no_grad()
def _unstack_linears(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, StackedLinear):
            linear = nn.Linear(child.in_features, child.out_features, child.bias is not None,
                               device=child.weight.device, dtype=child.weight.dtype)
            linear.weight.copy_(expert_mean(child.weight))
            if child.bias is not None:
                linear.bias.copy_(expert_mean(child.bias))
            setattr(module, name, linear)
        else:
            _unstack_linears(child)
    return module
