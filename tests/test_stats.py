"""mmewa.stats: the t tail, the paired test, the bootstrap interval and the verdict, against references."""
import math
import statistics

import numpy as np
import pytest

from mmewa import stats

# two-sided critical values from a printed t table (3 decimals): P(|T| >= t) = p
T_TABLE = [(12.706, 1, 0.05), (4.303, 2, 0.05), (2.776, 4, 0.05), (2.228, 10, 0.05), (2.042, 30, 0.05),
           (9.925, 2, 0.01), (4.032, 5, 0.01), (1.833, 9, 0.10)]


def t_tail_by_integration(t: float, dof: int, n: int = 20_000) -> float:
    """Slow reference: 1 - 2 * integral of the t density over [0, |t|] by Simpson's rule."""
    x = np.linspace(0.0, abs(t), n + 1)
    c = math.exp(math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2)) / math.sqrt(dof * math.pi)
    f = c * (1 + x * x / dof) ** (-(dof + 1) / 2)
    h = abs(t) / n
    integral = h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
    return 1.0 - 2.0 * integral


def bootstrap_by_loops(diffs, level=0.95, resamples=10_000, seed=0):
    """Slow reference: the same draws, one resample at a time, percentiles interpolated by hand."""
    d = list(map(float, diffs))
    idx = np.random.default_rng(seed).integers(0, len(d), size=(resamples, len(d)))
    means = sorted(sum(d[j] for j in row) / len(d) for row in idx.tolist())

    def percentile(q):  # numpy's default 'linear' method
        h = (len(means) - 1) * q
        lo = math.floor(h)
        return means[lo] + (h - lo) * (means[min(lo + 1, len(means) - 1)] - means[lo])

    tail = (1 - level) / 2
    return percentile(tail), percentile(1 - tail)


@pytest.mark.parametrize('t,dof,p', T_TABLE)
def test_t_tail_matches_printed_table(t, dof, p):
    assert stats.t_two_sided_p(t, dof) == pytest.approx(p, abs=5e-4)
    assert stats.t_two_sided_p(-t, dof) == stats.t_two_sided_p(t, dof)


@pytest.mark.parametrize('t,dof', [(0.3, 1), (0.9, 2), (1.5, 3), (2.5, 4), (3.7, 7), (0.05, 20)])
def test_t_tail_matches_numerical_integration(t, dof):
    assert stats.t_two_sided_p(t, dof) == pytest.approx(t_tail_by_integration(t, dof), abs=1e-9)


def test_t_tail_and_betainc_match_scipy():
    special = pytest.importorskip('scipy.special')
    sstats = pytest.importorskip('scipy.stats')
    for t in (1e-9, 0.1, 0.9, 2.0, 4.303, 30.0, 300.0):
        for dof in (1, 2, 3, 4, 9, 29, 200):
            assert stats.t_two_sided_p(t, dof) == pytest.approx(2 * sstats.t.sf(t, dof), rel=1e-9)
    for a, b, x in [(0.5, 0.5, 0.3), (5, 0.5, 0.99), (100, 0.5, 0.5), (2, 3, 0.9), (1, 1, 0.25)]:
        assert stats.betainc(a, b, x) == pytest.approx(special.betainc(a, b, x), rel=1e-10)


def test_paired_t_hand_computed():
    # CamVid ViT-S/14 val deltas (benchmarks/seg_camvid_vit-s14_cpu.md): mean 0.19667, sd 0.37846
    diffs = [0.40, -0.24, 0.43]
    t, dof, p = stats.paired_t(diffs)
    assert dof == 2
    assert t == pytest.approx(statistics.mean(diffs) / (statistics.stdev(diffs) / math.sqrt(3)))
    assert t == pytest.approx(0.900056, abs=1e-6)
    assert p == pytest.approx(0.463081, abs=1e-6)  # scipy.stats.ttest_1samp(diffs, 0).pvalue


def test_paired_t_degenerate_spreads():
    assert stats.paired_t([0.5, 0.5, 0.5]) == (math.inf, 2, 0.0)
    assert stats.paired_t([0.0, 0.0]) == (0.0, 1, 1.0)
    with pytest.raises(ValueError):
        stats.paired_t([1.0])


def test_bootstrap_matches_reference_and_is_reproducible():
    diffs = [1.3, 1.55, -0.5, -0.6, 0.2]
    fast = stats.bootstrap_ci(diffs, seed=3)
    assert fast == pytest.approx(bootstrap_by_loops(diffs, seed=3), abs=1e-12)
    assert stats.bootstrap_ci(diffs, seed=3) == fast
    # with 10,000 resamples of 5 values the percentiles sit on the lattice of possible means; few resamples
    # show that the seed is what fixes them
    assert stats.bootstrap_ci(diffs, resamples=50, seed=3) != stats.bootstrap_ci(diffs, resamples=50, seed=4)
    assert min(diffs) <= fast[0] < statistics.mean(diffs) < fast[1] <= max(diffs)
    assert stats.bootstrap_ci([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7))


def test_verdicts():
    gain = stats.summarize([1.0, 1.2, 0.9, 1.1, 1.05])
    assert gain.p < 0.001 and gain.ci[0] > 0
    assert gain.verdict() == 'distinguishable from zero (p < 0.05 and CI excludes 0)'
    # the CIFAR-100 pilot of issue 14: +1.30, +1.55, -0.50, -0.60
    noise = stats.summarize([1.30, 1.55, -0.50, -0.60])
    assert noise.mean == pytest.approx(0.4375) and noise.std == pytest.approx(1.145553, abs=1e-6)
    assert noise.verdict() == 'not distinguishable from noise'
    # two seeds: the bootstrap interval excludes 0 but the t-test does not see a gain -> noise
    two = stats.summarize([-2.05, -0.44])
    assert two.ci[1] < 0 and two.p > 0.05 and not two.distinguishable
    one = stats.summarize([0.3])
    assert (one.std, one.t, one.p, one.ci) == (None, None, None, None)
    assert one.verdict() == 'n = 1: one seed, no spread, no test'
