"""Experts Weights Averaging: the pure functional core (no MMEngine here).

Each EWA layer holds stacked expert tensors ``W`` of shape ``[E, ...]``. One EWA step with share rate β:

* ``mode='others'`` (the paper's): ``W_i <- (1 - β) W_i + β · mean_{j≠i} W_j``
* ``mode='all'``:                  ``W_i <- (1 - β) W_i + β · mean_j W_j``

Both keep the experts' mean ``W̄`` and are a lerp toward it: ``W_i <- W_i + α (W̄ - W_i)`` with
``α = β`` ('all') or ``α = β E / (E - 1)`` ('others'), so each deviation ``W_i - W̄`` shrinks by ``1 - α``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

MODES = ('others', 'all')
CPU_CHUNK_COLUMNS = 1 << 15  # per-chunk means stay in cache on CPU (see BENCHMARKS.md)
SCHEDULES = ('constant', 'linear', 'cosine')


def check_share_rate(share_rate: float) -> float:
    if not isinstance(share_rate, (int, float)) or not 0.0 <= share_rate <= 1.0:
        raise ValueError(f'share_rate must be a number in [0, 1], got {share_rate!r}')
    return float(share_rate)


def ewa_coefficient(share_rate: float, num_experts: int, mode: str = 'others') -> float:
    """The lerp weight α toward the expert mean that one EWA step with share rate β applies."""
    check_share_rate(share_rate)
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    if num_experts < 2:
        return 0.0
    return share_rate if mode == 'all' else share_rate * num_experts / (num_experts - 1)


@torch.no_grad()
def ewa_(tensors: Iterable[torch.Tensor], share_rate: float, mode: str = 'others') -> None:
    """One in-place EWA step on stacked expert tensors (dim 0 = experts).

    Low-precision tensors are averaged in fp32 and written back, so bf16/fp16 weights do not drift.
    Tensors of the same expert count share one fused ``_foreach`` launch per dtype group, except large
    CPU tensors: those are averaged in column chunks, so the mean of a chunk is still in cache when the
    lerp reads it (the same numbers, one pass over memory instead of two).
    """
    by_key: dict[tuple, list[torch.Tensor]] = {}
    for t in tensors:
        by_key.setdefault((t.shape[0], t.dtype, t.device), []).append(t)
    for (num_experts, dtype, _), group in by_key.items():
        alpha = ewa_coefficient(share_rate, num_experts, mode)
        if alpha == 0.0:
            continue
        work = group if dtype in (torch.float32, torch.float64) else [t.float() for t in group]
        on_cpu = work[0].device.type == 'cpu'
        chunked = [t for t in work if on_cpu and t.is_contiguous() and t[0].numel() > CPU_CHUNK_COLUMNS]
        fused = [t for t in work if not any(t is c for c in chunked)]
        for t in chunked:
            for c in t.view(num_experts, -1).split(CPU_CHUNK_COLUMNS, dim=1):
                c.lerp_(c.mean(0, keepdim=True), alpha)
        if fused:
            torch._foreach_lerp_(fused, [t.mean(0, keepdim=True).expand_as(t) for t in fused], alpha)
        if work is not group:
            torch._foreach_copy_(group, work)


@torch.no_grad()
def ewa_reference_(tensors: Iterable[torch.Tensor], share_rate: float, mode: str = 'others') -> None:
    """Slow, literal transcription of the EWA formula (a loop over experts); the test oracle."""
    check_share_rate(share_rate)
    for t in tensors:
        num_experts = t.shape[0]
        if num_experts < 2:
            continue
        old = t.double().clone()
        for i in range(num_experts):
            if mode == 'others':
                target = sum(old[j] for j in range(num_experts) if j != i) / (num_experts - 1)
            else:
                target = old.mean(0)
            t[i] = ((1 - share_rate) * old[i] + share_rate * target).to(t.dtype)


@torch.no_grad()
def expert_spread(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Relative spread of one layer's experts: mean over i of ``||W_i - W̄|| / ||W̄||``.

    All tensors of the layer count as one vector per expert. Returns a 0-dim tensor (no host sync).
    """
    dev_sq = 0.0
    mean_sq = 0.0
    for t in tensors:
        t = t.float()
        mean = t.mean(0, keepdim=True)
        dev_sq = dev_sq + (t - mean).flatten(1).pow(2).sum(1)
        mean_sq = mean_sq + mean.pow(2).sum()
    return (torch.sqrt(dev_sq) / torch.sqrt(mean_sq).clamp_min(1e-12)).mean()


def scheduled_share_rate(share_rate: float, final_share_rate: float, schedule: str,
                         progress: float) -> float:
    """Share rate at ``progress`` in [0, 1] of the EWA window: constant, or annealed linearly / by cosine."""
    if schedule not in SCHEDULES:
        raise ValueError(f'schedule must be one of {SCHEDULES}, got {schedule!r}')
    if schedule == 'constant':
        return share_rate
    progress = min(max(progress, 0.0), 1.0)
    factor = 1.0 - progress if schedule == 'linear' else 0.5 * (1.0 + math.cos(math.pi * progress))
    return final_share_rate + (share_rate - final_share_rate) * factor
