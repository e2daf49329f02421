import sys

import pytest
import torch

from mmewa import EWAFFN
from mmewa.models.layers import partition_groups_reference, random_partition


@pytest.mark.parametrize('tokens,experts,groups', [(12, 4, 1), (10, 4, 1), (3, 4, 1), (1, 1, 1),
                                                   (10, 3, 5), (7, 8, 2), (197, 4, 2)])
def test_groups_are_equal_sized_and_cover_every_token_once(tokens, experts, groups):
    torch.manual_seed(0)
    part = random_partition(tokens, experts, groups)
    per_expert = partition_groups_reference(part, tokens, experts, groups)
    flat = sorted(t for g in per_expert for t in g)
    assert flat == list(range(tokens * groups))  # every token exactly once, nothing dropped
    for g in range(groups):  # within each partition group, expert loads differ by at most one
        sizes = [sum(1 for t in tok if t // tokens == g) for tok in per_expert]
        assert max(sizes) - min(sizes) <= 1
        assert sum(sizes) == tokens
    assert part.gather_index.numel() == experts * groups * -(-tokens // experts)


def test_partition_comes_from_the_global_rng():
    torch.manual_seed(123)
    a = random_partition(50, 4)
    torch.manual_seed(123)
    b = random_partition(50, 4)
    c = random_partition(50, 4)
    assert torch.equal(a.token_slot, b.token_slot)
    assert not torch.equal(b.token_slot, c.token_slot)


def test_partition_is_uniform():
    # Each token lands with each expert ~1/E of the time over many draws.
    torch.manual_seed(0)
    tokens, experts, draws = 8, 4, 4000
    counts = torch.zeros(tokens, experts)
    for _ in range(draws):
        part = random_partition(tokens, experts)
        expert = part.token_slot // part.slots_per_group
        counts[torch.arange(tokens), expert] += 1
    freq = counts / draws
    assert torch.allclose(freq, torch.full_like(freq, 0.25), atol=0.03)


def test_partition_draws_from_the_given_generator():
    a = random_partition(50, 4, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(0)
    b = random_partition(50, 4, generator=torch.Generator().manual_seed(7))
    c = random_partition(50, 4, 3, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.token_slot, b.token_slot)  # the global RNG plays no part
    assert sorted(c.token_slot.tolist()) != c.token_slot.tolist()


def expert_of_each_token(layer: EWAFFN, x: torch.Tensor) -> torch.Tensor:
    """Which expert processed each token: expert e's MLP outputs the constant e (zero last weight)."""
    return layer.mlp(x)[..., 0].round().long().flatten()


def check_ewa_layer_partitions_tokens_uniformly_at_random() -> None:
    torch.manual_seed(0)
    layer = EWAFFN(embed_dims=8, feedforward_channels=16, num_experts=2)
    w2, b2 = layer.expert_parameters()[2:]
    with torch.no_grad():
        w2.zero_()
        b2.copy_(torch.arange(2.0).view(2, 1).expand_as(b2))
    layer.partition_generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 10, 8)
    draws = torch.stack([expert_of_each_token(layer, x) for _ in range(2000)])  # [draws, tokens]
    assert (draws.sum(1) == 5).all()  # every forward: 5 tokens per expert
    freq = draws.double().mean(0)
    assert torch.allclose(freq, torch.full_like(freq, 0.5), atol=0.05)  # each token ~1/2 with each expert


def test_ewa_layer_partitions_tokens_uniformly_at_random():
    check_ewa_layer_partitions_tokens_uniformly_at_random()


def test_these_checks_fail_when_the_partition_stops_being_random(monkeypatch):
    """Mutation check: a partition that is the same every call must fail the uniformity tests."""
    original = random_partition

    def fixed(tokens, experts, groups=1, device=None, generator=None):
        return original(tokens, experts, groups, device, torch.Generator().manual_seed(0))

    patched = [m for name, m in list(sys.modules.items()) if name.startswith('mmewa')
               and getattr(m, 'random_partition', None) is original]
    assert len(patched) >= 2  # where it is defined, and where the EWA layer calls it
    for module in [*patched, sys.modules[__name__]]:
        monkeypatch.setattr(module, 'random_partition', fixed)
    with pytest.raises(AssertionError):
        check_ewa_layer_partitions_tokens_uniformly_at_random()
    with pytest.raises(AssertionError):
        test_partition_is_uniform()
