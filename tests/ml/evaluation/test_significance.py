import math

import numpy as np
import pytest
from scipy import stats

from hybridrec_ml.evaluation.significance import MeanCI, mean_ci, paired_test

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


def test_paired_test_matches_hand_and_scipy_values():
    a = np.array([0.5, 1.0, 0.0, 0.3])
    b = np.array([0.2, 1.0, 0.1, 0.0])
    result = paired_test(a, b)
    assert result.n == 4
    assert result.mean_difference == pytest.approx(0.125)
    # Differences 0.3, 0, -0.1, 0.3: the zero is dropped, |d| ranks 2.5, 1, 2.5 -> W- = 1.
    assert result.wilcoxon_statistic == 1.0
    assert result.wilcoxon_p == pytest.approx(stats.wilcoxon(a, b).pvalue)
    # t = mean(d) / (s_d / sqrt(n)) with s_d = sqrt(0.1275 / 3).
    assert result.t_statistic == pytest.approx(0.125 / (math.sqrt(0.1275 / 3) / 2))
    assert result.t_p == pytest.approx(stats.ttest_rel(a, b).pvalue)


def test_identical_models_are_reported_as_indistinguishable():
    same = np.array([0.0, 0.5, 1.0])
    result = paired_test(same, same.copy())
    assert (result.mean_difference, result.wilcoxon_statistic, result.wilcoxon_p, result.t_p) == (0.0, 0.0, 1.0, 1.0)


def test_paired_test_needs_aligned_rows():
    with pytest.raises(ValueError, match="same length"):
        paired_test(np.zeros(3), np.zeros(4))
    assert MeanCI(1.0, 0.5, 2).high == 1.5
