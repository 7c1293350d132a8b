"""Uncertainty for the results tables: intervals over seeds, and paired comparisons over users.

Users are the independent units: a handful of heavy users supply a large share of the test rows,
so a test that treats rows as independent overstates certainty. Comparisons therefore pair the
per-user metric means of two models on the same users (Wilcoxon signed-rank, bootstrap CI of the
mean difference over users, rank-biserial effect size) and a table of them is Holm-corrected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class MeanCI:
    """Mean of n values with the half-width of its t-interval (NaN when n = 1: no spread to estimate)."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def format(self, digits: int = 4) -> str:
        """"0.2807 ± 0.0031", or "0.2807 (n=1)" where a single seed leaves the interval undefined."""
        if math.isnan(self.half_width):
            return f"{self.mean:.{digits}f} (n={self.n})"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> MeanCI:
    """Student-t interval mean ± t_{(1+c)/2, n-1} · s / sqrt(n), s the sample std (ddof=1).

    With one value the sample std and hence the interval are undefined: half_width is NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no values to summarise")
    mean = float(values.mean())
    if values.size == 1:
        return MeanCI(mean, float("nan"), 1)
    critical = float(stats.t.ppf((1 + confidence) / 2, values.size - 1))
    half_width = critical * float(values.std(ddof=1)) / math.sqrt(values.size)
    return MeanCI(mean, half_width, int(values.size))


@dataclass(frozen=True)
class PairedComparison:
    """Model a vs model b on the same n users; differences are a - b of per-user metric means."""

    n: int
    mean_a: float
    mean_b: float
    mean_difference: float
    ci_low: float  # bootstrap 95% percentile interval of the mean difference, users resampled
    ci_high: float
    rank_biserial: float  # (R+ - R-) / (R+ + R-) over the signed ranks: -1..1, 0 = no tendency
    wilcoxon_p: float


def paired_comparison(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> PairedComparison:
    """Wilcoxon signed-rank test (zero differences dropped, scipy's default), bootstrap CI and effect size.

    When every difference is zero the models are indistinguishable on these users and the test is
    undefined in scipy; we report p = 1 and effect 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D arrays of the same length, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("no users to compare")
    difference = a - b
    resampled = np.random.default_rng(seed).integers(0, a.size, size=(n_boot, a.size))
    low, high = np.percentile(difference[resampled].mean(axis=1), [2.5, 97.5])
    nonzero = difference[difference != 0]
    if nonzero.size == 0:
        p_value, effect = 1.0, 0.0
    else:
        p_value = float(stats.wilcoxon(a, b).pvalue)
        ranks = stats.rankdata(np.abs(nonzero))
        effect = float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())
    return PairedComparison(
        n=int(a.size),
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        mean_difference=float(difference.mean()),
        ci_low=float(low),
        ci_high=float(high),
        rank_biserial=effect,
        wilcoxon_p=p_value,
    )


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values: the i-th smallest times (m - i), made monotone, capped at 1."""
    p_values = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p_values, kind="stable")
    scaled = p_values[order] * (p_values.size - np.arange(p_values.size))
    adjusted = np.empty_like(p_values)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted
