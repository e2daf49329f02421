"""Random uniform partition of tokens into equal expert groups (EWA's router-free assignment).

Tokens are laid out in a slot grid ``[num_experts, num_groups * slots_per_group]`` so that the expert
computation is one batched matmul. ``num_groups`` is 1 for a partition of the whole batch and the batch
size for a per-sample partition. When a group's token count ``L`` is not a multiple of ``E``, experts get
``ceil(L / E)`` or ``floor(L / E)`` tokens; the few unused pad slots read token 0 and their outputs are never
read back, so every token is processed exactly once and pads receive no gradient.
"""
from __future__ import annotations

from typing import NamedTuple

import torch


class Partition(NamedTuple):
    """Index tensors of one partition; see :func:`random_partition`."""

    gather_index: torch.Tensor  # [E * G * n] token read by each slot (pads read token 0)
    token_slot: torch.Tensor  # [G * L] slot that processes each token
    slots_per_group: int  # n = ceil(L / E)


def random_partition(tokens_per_group: int, num_experts: int, num_groups: int = 1,
                     device: torch.device | str | None = None,
                     generator: torch.Generator | None = None) -> Partition:
    """Draw a uniform random partition of each group's tokens into ``num_experts`` near-equal parts.

    Draws from ``generator`` (on ``device``; :class:`~mmewa.engine.EWAHook` gives each rank its own,
    seeded from the run's seed and checkpointed), or from the global torch RNG of ``device`` when it is
    ``None``. Never synchronises with the host.
    """
    L, E, G = tokens_per_group, num_experts, num_groups
    n = -(-L // E)
    if G == 1:
        perm = torch.randperm(L, device=device, generator=generator).unsqueeze(0)
    else:
        perm = torch.rand(G, L, device=device, generator=generator).argsort(dim=1)
    # Position p of a group's permuted order goes to expert p % E, as that expert's (p // E)-th token:
    # round-robin dealing makes group sizes differ by at most one.
    pos = torch.arange(L, device=device)
    group = torch.arange(G, device=device).unsqueeze(1)
    slot = ((pos % E) * G + group) * n + pos // E  # [G, L]
    token = group * L + perm  # [G, L]: flat index of the token at each permuted position
    gather_index = torch.zeros(E * G * n, dtype=torch.long, device=device)
    gather_index.scatter_(0, slot.reshape(-1), token.reshape(-1))
    token_slot = torch.empty(G * L, dtype=torch.long, device=device)
    token_slot.scatter_(0, token.reshape(-1), slot.reshape(-1))
    return Partition(gather_index, token_slot, n)


def partition_groups_reference(partition: Partition, tokens_per_group: int, num_experts: int,
                               num_groups: int = 1) -> list[list[int]]:
    """Slow, obvious decoding of a partition into the list of token indices each expert processes."""
    n = partition.slots_per_group
    slots_of_token = partition.token_slot.tolist()
    groups: list[list[int]] = [[] for _ in range(num_experts)]
    for token, slot in enumerate(slots_of_token):
        expert = slot // (num_groups * n)
        groups[expert].append(token)
        assert partition.gather_index[slot].item() == token, 'gather and scatter disagree'
    return groups
