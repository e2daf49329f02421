"""RoutedMoEFFN: a V-MoE-style routed Mixture-of-Experts FFN (learned top-k router), drop-in for mmcv's FFN.

The "naive MoE" baseline of the EWA paper, and the MoE that Early EWA (``EWAHook(end=...)``) starts from.
Its experts are stored exactly as :class:`EWAFFN`'s (``experts.<ffn key>`` tensors ``[E, ...]``), so
:class:`EWAHook`, the expert spread and ``collapse_state_dict(approximate=True)`` work unchanged; the router
lives under ``router.*``, which is what makes ``collapse_state_dict`` refuse it without ``approximate``.

Routing, per token ``x``: ``p = softmax(router(x) [+ noise])``, the ``top_k`` experts of ``p`` process it,
and their outputs are summed with gates ``p_e`` (renormalised over the top-k when ``renormalize``).

Capacity and memory. Experts run as one batched matmul over a padded ``[E, capacity, C]`` buffer. Top-k picks
distinct experts, so an expert receives each token at most once: ``capacity = N`` (tokens in the batch) is
always enough, and that is what the dropless default uses on accelerators. It costs ``E * N`` expert rows
instead of the ``k * N`` really needed, i.e. ``E / k`` times the ideal FLOPs and activation memory (2x for
E=4, top-2), but needs no host sync to size the buffer. On the CPU, where reading a tensor costs no device
sync, dropless sizes the buffer to the busiest expert's load instead (about ``k * N / E`` rows when balanced;
forward + backward of the CPU CIFAR ViT's layer, E=4, top-2, 128 x 65 tokens: 0.50x the time of the padded
buffer, median of 15 interleaved pairs); the outputs are the same. With ``capacity_factor`` the buffer shrinks
to ``ceil(capacity_factor * k * N / E)`` rows per expert and overflowing assignments are dropped.
"""
from __future__ import annotations

import math
import warnings
from types import MappingProxyType
from typing import NamedTuple

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import FFN
from torch import nn

from .expert_layer import ExpertLayer, check_num_experts, upcycle
from .experts import StackedLinear

TOP_K = (1, 2)
ROUTING_DEFAULTS = MappingProxyType(dict(top_k=2, capacity_factor=None, noise_std=0.0, aux_weight=0.01,
                                        renormalize=None))


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_routing(num_experts: int, top_k: int = 2, capacity_factor: float | None = None,
                  noise_std: float = 0.0, aux_weight: float = 0.01, renormalize: bool | None = None,
                  prefix: str = '') -> None:
    """Reject bad routing options with one message naming the option (``prefix``: e.g. ``'ewa_cfg.'``)."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k not in TOP_K:
        raise ValueError(f'{prefix}top_k must be one of {TOP_K}, got {top_k!r}')
    if top_k > num_experts:
        raise ValueError(f'{prefix}top_k={top_k} needs num_experts >= {top_k}, got num_experts={num_experts}')
    if capacity_factor is not None and not (_is_number(capacity_factor) and capacity_factor > 0):
        raise ValueError(f'{prefix}capacity_factor must be None (dropless) or a number > 0, '
                         f'got {capacity_factor!r}')
    if not (_is_number(noise_std) and noise_std >= 0):
        raise ValueError(f'{prefix}noise_std must be a number >= 0, got {noise_std!r}')
    if not (_is_number(aux_weight) and aux_weight >= 0):
        raise ValueError(f'{prefix}aux_weight must be a number >= 0, got {aux_weight!r}')
    if renormalize is not None and not isinstance(renormalize, bool):
        raise ValueError(f'{prefix}renormalize must be None (= top_k > 1), True or False, '
                         f'got {renormalize!r}')


class AddAuxiliaryLoss(torch.autograd.Function):
    """Identity on ``x`` whose backward also sends ``weight * d(aux_loss)`` into the graph.

    The fallback when no :class:`~mmewa.engine.MoEAuxLossHook` puts the aux loss into the loss dict: it adds
    ``weight * aux_loss`` to whatever objective is backpropagated through ``x``, so a routed MoE used in a
    plain config still balances its experts. Caveats (why the hook is the recommended path): the injected
    gradient is not multiplied by an AMP loss scale (fp16 ``GradScaler``: the effective weight is
    ``aux_weight / scale``; bf16 is unaffected), nor divided by gradient accumulation, nor logged.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, aux_loss: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        ctx.aux_dtype, ctx.aux_shape = aux_loss.dtype, aux_loss.shape
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        grad_aux = torch.full(ctx.aux_shape, ctx.weight, dtype=ctx.aux_dtype, device=grad_output.device)
        return grad_output, grad_aux, None


class Routing(NamedTuple):
    """One routing decision for ``N`` tokens."""

    probs: torch.Tensor  # [N, E] router probabilities (after noise), at least float32
    experts: torch.Tensor  # [N, k] chosen experts, best first
    gates: torch.Tensor  # [N, k] combine weights, at least float32


class Slots(NamedTuple):
    """Where each assignment goes in the ``[E, capacity]`` buffer; assignments ordered ``j * N + n``."""

    slot: torch.Tensor  # [k * N] flat buffer slot (clamped into range for dropped assignments)
    keep: torch.Tensor  # [k * N] bool, False where the expert was full


def _at_least_float32(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.promote_types(t.dtype, torch.float32))


def load_balancing_loss(probs: torch.Tensor, top1: torch.Tensor) -> torch.Tensor:
    """Switch/GShard auxiliary loss ``E * sum_e f_e * P_e``: 1 when balanced, ``E`` when collapsed.

    ``f_e``: fraction of tokens whose top-1 expert is ``e`` (no gradient); ``P_e``: mean router
    probability of ``e`` (carries the gradient).
    """
    num_tokens, num_experts = probs.shape
    if num_tokens == 0:
        return probs.sum()
    f = (top1.unsqueeze(1) == torch.arange(num_experts, device=probs.device)).to(probs.dtype).mean(0)
    return num_experts * (f * probs.mean(0)).sum()


def assign_slots(experts: torch.Tensor, num_experts: int, capacity: int) -> Slots:
    """Position of every assignment inside its expert's buffer, without a host sync.

    Priority is token order, all first choices before any second choice (as GShard/V-MoE), so when an
    expert overflows, second choices are dropped first. Positions are a cumsum of one-hot rows
    (``[k*N, E]`` integers, small next to the activations).
    """
    order = experts.t().reshape(-1)  # [k*N]: j * N + n -> expert of token n's j-th choice
    onehot = order.unsqueeze(1) == torch.arange(num_experts, device=order.device)
    pos = onehot.cumsum(0).gather(1, order.unsqueeze(1)).squeeze(1) - 1
    keep = pos < capacity
    return Slots(order * capacity + pos.clamp(max=max(capacity - 1, 0)), keep)


class RoutedMoE(ExpertLayer):
    """A routed MoE: ``num_experts`` stacked experts chosen per token by a learned router (any MLP family).

    Options (``routing``):
        top_k: experts per token, 1 or 2.
        capacity_factor: ``None`` (default): dropless, every token reaches its ``k`` experts. A number:
            each expert takes ``ceil(capacity_factor * k * N / E)`` tokens in training, overflow is dropped
            (the token then keeps only its identity path); eval is always dropless.
        noise_std: std of Gaussian noise added to the router logits in training (V-MoE), default 0.
        aux_weight: weight of the load-balancing loss; 0 disables it. With ``MoEAuxLossHook`` in the
            config (``collect_aux_loss=True``) the weighted loss of each forward waits in
            ``pending_aux_loss`` (summed over the forwards of one model call) and the hook adds it to the
            loss dict; otherwise its gradient is injected into the backward pass (:class:`AddAuxiliaryLoss`).
        renormalize: divide the top-k gates by their sum. ``None`` (default) = ``top_k > 1``: top-2 gates
            sum to 1 as in GShard, so an upcycled layer (identical experts) is the original FFN; top-1
            keeps the raw probability (Switch) so the task loss trains the router (``True`` would make
            the top-1 gate constant 1 and leave the router to the auxiliary loss alone).

    After each forward, ``aux_loss`` (detached scalar) and ``num_dropped`` (dropped assignments, a tensor:
    no host sync) describe it. Eval stays an MoE: deterministic top-k, no noise, nothing dropped.

    Router: ``nn.Linear(C, E)``, weights trunc-normal(0.02), bias 0 — the init ViT/Swin give every
    linear from scratch, so it is the same with or without the backbone's ``init_weights``. Small logits
    start the routing near-uniform (balanced, aux loss ~1), but not exactly zero: ties would send every
    token to expert 0 (and 1).
    """

    class_prefix = 'RoutedMoE'
    strategy_attrs = ('router', 'top_k', 'capacity_factor', 'noise_std', 'aux_weight', 'renormalize',
                      'aux_loss', 'num_dropped', 'collect_aux_loss', 'pending_aux_loss', 'pending_balance',
                      '_told_about_hook')
    known_classes: dict[type, type] = {}

    def _setup_strategy(self, **routing) -> None:
        if self.mlp_family.spatial:
            raise ValueError(f"moe_type='routed' cannot route {type(self).__name__} (a MixFFN with a "
                             "depthwise conv): a router sends single tokens to experts, but this MLP mixes "
                             "each token with its neighbours; use moe_type='ewa' (it partitions map cells)")
        unknown = set(routing) - set(ROUTING_DEFAULTS)
        if unknown:
            raise ValueError(f'unknown routing option(s) {sorted(unknown)}; valid: {list(ROUTING_DEFAULTS)}')
        routing = {**ROUTING_DEFAULTS, **routing}
        check_routing(self.num_experts, **routing)
        self.top_k = routing['top_k']
        self.capacity_factor = routing['capacity_factor']
        self.noise_std = float(routing['noise_std'])
        self.aux_weight = float(routing['aux_weight'])
        self.renormalize = self.top_k > 1 if routing['renormalize'] is None else routing['renormalize']
        first = next(m for m in self.experts.modules() if isinstance(m, StackedLinear))
        self.router = nn.Linear(first.in_features, self.num_experts, device=first.weight.device,
                                dtype=first.weight.dtype)
        self.reset_router()
        # A frozen MLP (e.g. a frozen stage) stays frozen as a routed MoE: its router does not train either.
        self.router.requires_grad_(any(p.requires_grad for p in self.experts.parameters()))
        self.aux_loss: torch.Tensor | None = None
        self.num_dropped: torch.Tensor | None = None
        self.collect_aux_loss = False
        self.pending_aux_loss: torch.Tensor | None = None  # sum of weighted aux losses not yet collected
        self.pending_balance: list[torch.Tensor] = []  # their unweighted values, for logging
        self._told_about_hook = False

    @classmethod
    def from_mlp(cls, mlp: nn.Module, num_experts: int, **routing) -> nn.Module:
        """Upcycle a (trained) MLP of any supported family; the router is freshly initialised."""
        return upcycle(mlp, RoutedMoE, num_experts, **routing)

    @torch.no_grad()
    def reset_router(self, std: float = 0.02) -> None:
        nn.init.trunc_normal_(self.router.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(self.router.bias)

    # -- routing ---------------------------------------------------------------------------------------
    def capacity(self, num_tokens: int, experts: torch.Tensor | None = None) -> int:
        """Buffer rows per expert: the cap, or dropless ``N`` (enough since top-k experts are distinct).

        Given the chosen ``experts`` (``[N, k]``), dropless uses the busiest expert's load instead: tight,
        but a host read, so :meth:`mlp` passes them only for CPU tensors (and not while tracing).
        """
        if not self.training or self.capacity_factor is None:
            if experts is None:
                return num_tokens
            return int(torch.bincount(experts.reshape(-1), minlength=self.num_experts).max())
        cap = math.ceil(self.capacity_factor * self.top_k * num_tokens / self.num_experts)
        return min(num_tokens, cap)

    def route(self, flat: torch.Tensor, noise: torch.Tensor | None = None) -> Routing:
        """Top-k routing of ``[N, C]`` tokens; the softmax runs in float32 or wider (stable under AMP)."""
        logits = _at_least_float32(self.router(flat))
        if noise is not None:
            logits = logits + noise
        probs = logits.softmax(-1)
        top_p, top_e = probs.topk(self.top_k, dim=-1)
        gates = top_p / top_p.sum(-1, keepdim=True) if self.renormalize else top_p
        return Routing(probs, top_e, gates)

    def _noise(self, num_tokens: int, device: torch.device) -> torch.Tensor | None:
        if not (self.training and self.noise_std > 0):
            return None
        return self.noise_std * torch.randn(num_tokens, self.num_experts, device=device)

    # -- forward ---------------------------------------------------------------------------------------
    def mlp(self, x: torch.Tensor) -> torch.Tensor:  # eval stays an MoE (deterministic top-k)
        """The routed MLP alone: dispatch into ``[E, capacity, C]``, one batched matmul, gated gather back."""
        C, E, k = x.shape[-1], self.num_experts, self.top_k
        flat = x.reshape(-1, C)
        N = flat.shape[0]
        routing = self.route(flat, self._noise(N, flat.device))
        aux = load_balancing_loss(routing.probs, routing.experts[:, 0])
        gates = routing.gates
        if self.training and self.aux_weight > 0:
            if self.collect_aux_loss:
                # MoEAuxLossHook moves these to the loss dict; a layer run twice in one forward adds both.
                weighted = self.aux_weight * aux
                pending = self.pending_aux_loss
                self.pending_aux_loss = weighted if pending is None else pending + weighted
                self.pending_balance.append(aux.detach())
            elif torch.is_grad_enabled():
                # Injected on the gates (internal to this layer, so callers may modify our output in place).
                gates = AddAuxiliaryLoss.apply(gates, aux, self.aux_weight)
                if not self._told_about_hook:
                    self._told_about_hook = True
                    warnings.warn('RoutedMoEFFN: the load-balancing loss is injected into the backward pass '
                                  '(not logged, not scaled by fp16 AMP or gradient accumulation); add '
                                  "dict(type='MoEAuxLossHook') to custom_hooks to put it in the loss dict",
                                  stacklevel=2)
        tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()
        host_read = flat.device.type == 'cpu' and not tracing
        capacity = self.capacity(N, routing.experts if host_read else None)
        slots = assign_slots(routing.experts, E, capacity)
        token = torch.arange(N, device=flat.device).repeat(k)
        # Slot -> token; empty slots read token 0 (never read back, so they get no gradient) and dropped
        # assignments write to a spare last slot that is cut off.
        gather_index = torch.zeros(E * capacity + 1, dtype=torch.long, device=flat.device)
        gather_index.scatter_(0, torch.where(slots.keep, slots.slot, E * capacity), token)
        buffer = flat.index_select(0, gather_index[:-1]).view(E, capacity, C)
        y = self.experts(buffer)
        y = y.reshape(E * capacity, y.shape[-1])
        weight = (gates.t().reshape(-1) * slots.keep).to(y.dtype)
        out = (y.index_select(0, slots.slot) * weight.unsqueeze(1)).view(k, N, -1).sum(0)
        self.aux_loss = aux.detach()
        self.num_dropped = (~slots.keep).sum()
        return out.view(*x.shape[:-1], out.shape[-1])

    def forward_reference(self, x: torch.Tensor, identity: torch.Tensor | None = None,
                          noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Slow, obvious oracle: Python loops over tokens and experts. Returns (output, aux loss, dropped).

        ``noise`` (``[N, E]``) replaces the random router noise, so noisy routing can be checked too.
        Top-k ties go to the lower expert index.
        """
        C, E, k = x.shape[-1], self.num_experts, self.top_k
        flat = x.reshape(-1, C)
        N = flat.shape[0]
        probs, choices = [], []
        for n in range(N):
            logits = _at_least_float32(F.linear(flat[n], self.router.weight, self.router.bias))
            p = (logits if noise is None else logits + noise[n]).softmax(-1)
            ranked = sorted(range(E), key=lambda e: (-p[e].item(), e))[:k]
            gates = [p[e] for e in ranked]
            if self.renormalize:
                total = sum(gates)
                gates = [g / total for g in gates]
            probs.append(p)
            choices.append(list(zip(ranked, gates)))
        capacity, load, dropped = self.capacity(N), [0] * E, 0
        members: list[list[tuple[int, torch.Tensor]]] = [[] for _ in range(E)]
        for j in range(k):  # all first choices, then all second choices
            for n in range(N):
                e, g = choices[n][j]
                if load[e] < capacity:
                    load[e] += 1
                    members[e].append((n, g))
                else:
                    dropped += 1
        outs = self.experts.forward_reference([flat[[n for n, _ in members[e]]] for e in range(E)])
        rows = [0] * N
        for e in range(E):
            for row, (n, g) in enumerate(members[e]):
                rows[n] = rows[n] + g * outs[e][row]
        out_dims = outs[0].shape[-1]
        mlp = torch.stack([r if torch.is_tensor(r) else flat.new_zeros(out_dims) for r in rows])
        top1 = [choices[n][0][0] for n in range(N)]
        aux = E * sum((top1.count(e) / N) * (sum(p[e] for p in probs) / N) for e in range(E))
        return self.around_mlp(mlp.view(*x.shape[:-1], out_dims), x, identity), aux, dropped

    def extra_repr(self) -> str:
        return (f'num_experts={self.num_experts}, top_k={self.top_k}, '
                f'capacity_factor={self.capacity_factor}, noise_std={self.noise_std}, '
                f'aux_weight={self.aux_weight}, renormalize={self.renormalize}')


class RoutedMoEFFN(RoutedMoE, FFN):
    """mmcv ``FFN`` whose MLP is a routed MoE (see :class:`RoutedMoE`); also buildable directly.

    Args:
        *args, **kwargs: as mmcv's ``FFN``.
        num_experts: ``E``.
        top_k, capacity_factor, noise_std, aux_weight, renormalize: see :class:`RoutedMoE`.
    """

    def __init__(self, *args, num_experts: int = 4, top_k: int = 2, capacity_factor: float | None = None,
                 noise_std: float = 0.0, aux_weight: float = 0.01, renormalize: bool | None = None,
                 **kwargs) -> None:
        FFN.__init__(self, *args, **kwargs)
        self._become_experts(check_num_experts(num_experts), top_k=top_k, capacity_factor=capacity_factor,
                             noise_std=noise_std, aux_weight=aux_weight, renormalize=renormalize)

    @classmethod
    def from_ffn(cls, ffn: FFN, num_experts: int, **routing) -> RoutedMoEFFN:
        """Upcycle a (trained) FFN: every expert is an exact copy of it, the router is freshly initialised."""
        return upcycle(ffn, RoutedMoE, num_experts, **routing)


RoutedMoE.known_classes[FFN] = RoutedMoEFFN
