import pytest
import torch

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
