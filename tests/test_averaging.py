import pytest
import torch

from mmewa import ewa_, ewa_coefficient, ewa_reference_, expert_spread
from mmewa.averaging import scheduled_share_rate


def stacked(seed=0, experts=4):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(experts, 6, 5, generator=g), torch.randn(experts, 6, generator=g)]


@pytest.mark.parametrize('mode', ['others', 'all'])
@pytest.mark.parametrize('beta', [0.1, 0.3, 0.5, 1.0])
def test_fast_ewa_matches_the_literal_formula(mode, beta):
    fast, ref = stacked(), stacked()
    ewa_(fast, beta, mode)
    ewa_reference_(ref, beta, mode)
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('mode', ['others', 'all'])
def test_ewa_keeps_the_mean_and_shrinks_deviations_by_the_documented_factor(mode):
    beta, experts = 0.3, 4
    ts = stacked(experts=experts)
    before = [t.clone() for t in ts]
    ewa_(ts, beta, mode)
    alpha = beta if mode == 'all' else beta * experts / (experts - 1)
    assert alpha == pytest.approx(ewa_coefficient(beta, experts, mode))
    for old, new in zip(before, ts):
        torch.testing.assert_close(new.mean(0), old.mean(0), rtol=0, atol=1e-6)
        dev_old, dev_new = old - old.mean(0), new - new.mean(0)
        torch.testing.assert_close(dev_new, (1 - alpha) * dev_old, rtol=1e-5, atol=1e-6)
    # The 'others' factor in numbers: beta=0.3, E=4 -> deviations x 0.6.
    if mode == 'others':
        assert 1 - alpha == pytest.approx(0.6)


def test_share_rate_zero_is_a_no_op():
    ts = stacked()
    before = [t.clone() for t in ts]
    ewa_(ts, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(ts, before))


def test_single_expert_is_untouched():
    t = [torch.randn(1, 3, 3)]
    before = t[0].clone()
    ewa_(t, 0.5)
    assert torch.equal(t[0], before)


def test_repeated_ewa_converges_to_the_mean():
    ts = stacked()
    mean = [t.mean(0) for t in ts]
    for _ in range(60):
        ewa_(ts, 0.3, 'all')
    for t, m in zip(ts, mean):
        torch.testing.assert_close(t, m.expand_as(t), rtol=0, atol=1e-6)
    assert expert_spread(ts).item() < 1e-6


def test_low_precision_is_averaged_in_fp32():
    t32 = stacked()[0]
    t16 = t32.bfloat16()
    ewa_([t16], 0.3)
    ref = t32.bfloat16().float()
    ewa_reference_([ref], 0.3)
    torch.testing.assert_close(t16.float(), ref.bfloat16().float(), rtol=0, atol=0)


@pytest.mark.parametrize('beta', [-0.1, 1.5, 'high'])
def test_bad_share_rate(beta):
    with pytest.raises(ValueError, match=r'share_rate must be a number in \[0, 1\]'):
        ewa_(stacked(), beta)


def test_expert_spread_hand_computed():
    # Two experts at +d and -d around mean m: ||W_i - m|| / ||m|| = ||d|| / ||m||.
    m = torch.tensor([3.0, 4.0])  # norm 5
    d = torch.tensor([0.6, 0.8])  # norm 1
    t = torch.stack([m + d, m - d])
    assert expert_spread([t]).item() == pytest.approx(0.2)


def test_schedules():
    assert scheduled_share_rate(0.4, 0.0, 'constant', 0.7) == 0.4
    assert scheduled_share_rate(0.4, 0.0, 'linear', 0.25) == pytest.approx(0.3)
    assert scheduled_share_rate(0.4, 0.1, 'cosine', 0.0) == pytest.approx(0.4)
    assert scheduled_share_rate(0.4, 0.1, 'cosine', 0.5) == pytest.approx(0.25)
    assert scheduled_share_rate(0.4, 0.1, 'cosine', 1.0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match='schedule'):
        scheduled_share_rate(0.4, 0.0, 'step', 0.5)


def test_cpu_chunked_path_equals_the_whole_tensor_lerp_bit_for_bit():
    from mmewa.averaging import CPU_CHUNK_COLUMNS
    g = torch.Generator().manual_seed(3)
    big = torch.randn(4, 3, CPU_CHUNK_COLUMNS + 17, generator=g)  # several chunks, a ragged last one
    expected = big.clone()
    expected.lerp_(expected.mean(0, keepdim=True), ewa_coefficient(0.3, 4))
    ewa_([big], 0.3)
    assert torch.equal(big, expected)
