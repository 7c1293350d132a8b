"""Uncertainty for the results tables: confidence intervals over seeds and paired tests over rows.

The study reports single runs; differences of ~1% NDCG@10 between variants mean little without
the seed-to-seed spread (CI over seeds) and a paired test on the same test interactions.
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
class PairedTest:
    """Paired comparison of model a vs model b on the same rows; differences are a - b."""

    n: int
    mean_difference: float
    wilcoxon_statistic: float
    wilcoxon_p: float
    t_statistic: float
    t_p: float


def paired_test(a: np.ndarray, b: np.ndarray) -> PairedTest:
    """Wilcoxon signed-rank (zero differences dropped, scipy's default) and paired t-test of a - b.

    When every difference is zero the models are indistinguishable on these rows and both tests
    are undefined in scipy (division by zero); we report statistic 0 and p = 1.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D arrays of the same length, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("no rows to compare")
    difference = a - b
    if not difference.any():
        return PairedTest(int(a.size), 0.0, 0.0, 1.0, 0.0, 1.0)
    wilcoxon = stats.wilcoxon(a, b)
    t_test = stats.ttest_rel(a, b)
    return PairedTest(
        n=int(a.size),
        mean_difference=float(difference.mean()),
        wilcoxon_statistic=float(wilcoxon.statistic),
        wilcoxon_p=float(wilcoxon.pvalue),
        t_statistic=float(t_test.statistic),
        t_p=float(t_test.pvalue),
    )
