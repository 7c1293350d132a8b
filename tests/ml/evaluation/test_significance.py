import math

import numpy as np
import pytest
from scipy import stats

from hybridrec_ml.evaluation.significance import MeanCI, holm, mean_ci, paired_comparison

T_975_3DF = 3.182446305284263  # Student t quantile 0.975 with 3 degrees of freedom (tables)


def test_mean_ci_is_the_student_t_interval():
    ci = mean_ci([1.0, 2.0, 3.0, 4.0])
    assert ci.mean == 2.5 and ci.n == 4
    assert ci.half_width == pytest.approx(T_975_3DF * math.sqrt(5 / 3) / 2)
    assert (ci.low, ci.high) == pytest.approx((2.5 - ci.half_width, 2.5 + ci.half_width))
    assert ci.format(2) == "2.50 ± 2.05"


def test_single_seed_has_an_undefined_interval():
    ci = mean_ci([0.28])
    assert ci.mean == 0.28 and math.isnan(ci.half_width)
    assert ci.format() == "0.2800 (n=1)"


def test_mean_ci_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        mean_ci([])


def test_paired_comparison_matches_hand_and_scipy_values():
    a = np.array([0.5, 1.0, 0.0, 0.3])
    b = np.array([0.2, 1.0, 0.1, 0.0])
    result = paired_comparison(a, b, n_boot=4000, seed=1)
    assert (result.n, result.mean_a, result.mean_b) == (4, pytest.approx(0.45), pytest.approx(0.325))
    assert result.mean_difference == pytest.approx(0.125)
    # Differences 0.3, 0, -0.1, 0.3: the zero is dropped, |d| ranks 2.5, 1, 2.5 -> R+ = 5, R- = 1.
    assert result.rank_biserial == pytest.approx((5 - 1) / 6)
    assert result.wilcoxon_p == pytest.approx(stats.wilcoxon(a, b).pvalue)
    # the bootstrap interval of the mean of (0.3, 0, -0.1, 0.3) lies within its extremes and holds the mean
    assert -0.1 <= result.ci_low < 0.125 < result.ci_high <= 0.3
    assert paired_comparison(a, b, n_boot=4000, seed=1) == result  # seeded


def test_bootstrap_interval_is_the_percentile_interval_of_resampled_means():
    a, b = np.array([1.0, 0.0, 1.0]), np.zeros(3)
    result = paired_comparison(a, b, n_boot=10, seed=3)
    draws = np.random.default_rng(3).integers(0, 3, size=(10, 3))
    low, high = np.percentile(a[draws].mean(axis=1), [2.5, 97.5])
    assert (result.ci_low, result.ci_high) == (pytest.approx(low), pytest.approx(high))


def test_identical_models_are_reported_as_indistinguishable():
    same = np.array([0.0, 0.5, 1.0])
    result = paired_comparison(same, same.copy())
    assert (result.mean_difference, result.rank_biserial, result.wilcoxon_p, result.ci_low, result.ci_high) == (
        0.0, 0.0, 1.0, 0.0, 0.0,
    )  # fmt: skip


def test_paired_comparison_needs_aligned_users():
    with pytest.raises(ValueError, match="same length"):
        paired_comparison(np.zeros(3), np.zeros(4))
    assert MeanCI(1.0, 0.5, 2).high == 1.5


def test_holm_multiplies_the_ith_smallest_by_m_minus_i_and_keeps_order():
    # sorted 0.01, 0.02, 0.04, 0.5 -> x4, x3, x2, x1 = 0.04, 0.06, 0.08, 0.5
    np.testing.assert_allclose(holm([0.04, 0.5, 0.01, 0.02]), [0.08, 0.5, 0.04, 0.06])
    # monotone: 0.04 x 2 = 0.08 would undercut 0.03 x 3 = 0.09 ranked ahead of it, so it is raised to 0.09
    np.testing.assert_allclose(holm([0.04, 0.03, 0.9]), [0.09, 0.09, 0.9])
    np.testing.assert_allclose(holm([0.6, 0.7]), [1.0, 1.0])
