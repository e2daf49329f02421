"""Paired statistics for baseline-vs-EWA comparisons over seeds (pure Python + NumPy, no OpenMMLab).

A comparison trains both models with the same seeds, so the per-seed differences are the data: the paired
t-test and a bootstrap interval of their mean say whether a gain stands out from seed noise. The Student-t
tail is computed here (regularized incomplete beta) so the tools need no SciPy; the tests check it
against SciPy and against printed t tables.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

ALPHA = 0.05


def _betacf(a: float, b: float, x: float, eps: float = 1e-15, max_iter: int = 500) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes §6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, max_iter + 1):
        m2 = 2 * m
        even = m * (b - m) * x / ((qam + m2) * (a + m2))
        odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        for aa in (even, odd):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            return h
    raise ArithmeticError(f'incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})')


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f'x must lie in [0, 1], got {x}')
    if x in (0.0, 1.0):
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    # the continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, dof: float) -> float:
    """P(|T| >= |t|) for Student's t with ``dof`` degrees of freedom: I_{dof/(dof+t²)}(dof/2, 1/2)."""
    if math.isinf(t):
        return 0.0
    t2 = t * t
    if t2 < dof:  # x = dof/(dof+t²) is close to 1 and would round; use I_x(a, b) = 1 - I_{1-x}(b, a)
        return 1.0 - betainc(0.5, dof / 2.0, t2 / (dof + t2))
    return betainc(dof / 2.0, 0.5, dof / (dof + t2))


def paired_t(diffs: Sequence[float]) -> tuple[float, int, float]:
    """Paired t-test of mean(diffs) = 0: (t, dof, two-sided p). Needs at least two differences."""
    n = len(diffs)
    if n < 2:
        raise ValueError('a paired t-test needs at least two paired differences')
    mean, sd = statistics.fmean(diffs), statistics.stdev(diffs)
    if sd == 0.0:  # identical differences: no spread to test against
        return (0.0, n - 1, 1.0) if mean == 0.0 else (math.copysign(math.inf, mean), n - 1, 0.0)
    t = mean / (sd / math.sqrt(n))
    return t, n - 1, t_two_sided_p(t, n - 1)


def bootstrap_ci(diffs: Sequence[float], level: float = 0.95, resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, reproducible through ``seed``.

    With very few seeds it is too narrow (it cannot see beyond the values it has), which is why the
    verdict also asks for the t-test.
    """
    d = np.asarray(diffs, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(d), size=(resamples, len(d)))
    tail = (1.0 - level) / 2.0
    lo, hi = np.percentile(d[idx].mean(axis=1), [100 * tail, 100 * (1 - tail)])
    return float(lo), float(hi)


@dataclass(frozen=True)
class PairedSummary:
    """Everything a table row needs about the paired differences of one metric on one split."""
    diffs: tuple[float, ...]
    mean: float
    std: Optional[float]
    t: Optional[float]
    dof: Optional[int]
    p: Optional[float]
    ci: Optional[tuple[float, float]]

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def distinguishable(self) -> bool:
        """p < ALPHA and the bootstrap interval excludes 0: both must agree before calling it a gain."""
        if self.p is None or self.ci is None:
            return False
        return self.p < ALPHA and (self.ci[0] > 0 or self.ci[1] < 0)

    def verdict(self) -> str:
        if self.n < 2:
            return f'n = {self.n}: one seed, no spread, no test'
        if self.distinguishable:
            return f'distinguishable from zero (p < {ALPHA:g} and CI excludes 0)'
        return 'not distinguishable from noise'


def summarize(diffs: Sequence[float], level: float = 0.95, resamples: int = 10_000,
              seed: int = 0) -> PairedSummary:
    """Mean, sample std (ddof=1), paired t-test and bootstrap interval of per-seed differences."""
    diffs = tuple(float(x) for x in diffs)
    if not diffs:
        raise ValueError('no paired differences')
    if len(diffs) < 2:
        return PairedSummary(diffs, diffs[0], None, None, None, None, None)
    t, dof, p = paired_t(diffs)
    return PairedSummary(diffs, statistics.fmean(diffs), statistics.stdev(diffs), t, dof, p,
                         bootstrap_ci(diffs, level, resamples, seed))
