import math

import numpy as np
import pytest
import torch

from hybridrec_ml.config import ALPHA_COLUMNS
from hybridrec_ml.data.transforms.context_buckets import CONTEXT_BUCKETS
from hybridrec_ml.evaluation.protocols import EvalResult
from hybridrec_ml.evaluation.segments import (
    alpha_by_context_bucket,
    segment_labels,
    segment_of,
    segment_report,
)

HISTORY_LENGTH = np.array([0, 3, 4, 10, 11, 30, 31, 100])
RANKS = np.array([0, 20, 1, 3, 0, 0, 9, 10])
ALPHA = np.array(
    [[0.95, 0.03, 0.02]] * 2 + [[0.5, 0.25, 0.25]] * 2 + [[0.2, 0.2, 0.6], [0.4, 0.4, 0.2]] + [[0.92, 0.04, 0.04]] * 2,
    dtype=np.float32,
)


def result(alpha: np.ndarray | None) -> EvalResult:
    return EvalResult("sampled", np.arange(8), RANKS, alpha)


def test_default_labels_follow_the_study():
    assert segment_labels() == ("cold-start (≤3)", "warm (4-10)", "hot (11-30)", "super-hot (>30)")
    assert segment_labels((1, 5), ("new", "some", "many")) == ("new (≤1)", "some (2-5)", "many (>5)")
    with pytest.raises(ValueError):
        segment_labels((3, 10), ("a", "b"))


def test_boundaries_are_inclusive_upper_limits():
    assert segment_of(HISTORY_LENGTH).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_segment_report_metrics_alpha_and_collapse():
    report = segment_report(result(ALPHA), HISTORY_LENGTH, collapse_threshold=0.9)
    assert report["segment"].tolist() == list(segment_labels())
    assert report["n_rows"].tolist() == [2, 2, 2, 2]
    # ranks per segment: (0, 20), (1, 3), (0, 0), (9, 10)
    expected_ndcg = [0.5, (1 / math.log2(3) + 1 / math.log2(5)) / 2, 1.0, 1 / math.log2(11) / 2]
    np.testing.assert_allclose(report["ndcg@10"], expected_ndcg)
    np.testing.assert_allclose(report["recall@10"], [0.5, 1.0, 1.0, 0.5])
    np.testing.assert_allclose(report["alpha_static"], [0.95, 0.5, 0.3, 0.92], rtol=1e-6)
    np.testing.assert_allclose(report["alpha_content"], [0.02, 0.25, 0.4, 0.04], rtol=1e-6)
    assert report["collapsed"].tolist() == [True, False, False, True]


def test_empty_segment_and_no_gate():
    report = segment_report(result(None), HISTORY_LENGTH, bounds=(3, 200), names=("few", "many", "extreme"))
    assert report["n_rows"].tolist() == [2, 6, 0]
    assert math.isnan(report["ndcg@10"].iloc[2])
    assert report["alpha_static"].isna().all()
    assert report["collapsed"].tolist() == [False, False, False]


def test_history_lengths_must_align_with_rows():
    with pytest.raises(ValueError, match="7 history lengths for 8"):
        segment_report(result(None), HISTORY_LENGTH[:7])


def context_at(hour: float, dow: int) -> list[float]:
    """Context features as docs/architecture.md defines them (UTC hour, Monday = 0)."""
    return [
        math.sin(2 * math.pi * hour / 24),
        math.cos(2 * math.pi * hour / 24),
        math.sin(2 * math.pi * dow / 7),
        math.cos(2 * math.pi * dow / 7),
        1.0 if dow >= 5 else 0.0,
    ]


def test_alpha_per_context_bucket():
    # Monday 10:00 and Wednesday 09:30 (weekday daytime), Saturday 12:00 and Sunday 23:00 (weekend).
    context = torch.tensor([context_at(10, 0), context_at(12, 5), context_at(9.5, 2), context_at(23, 6)])
    alpha = np.array([[0.6, 0.2, 0.2], [0.1, 0.1, 0.8], [0.4, 0.4, 0.2], [0.3, 0.1, 0.6]])
    frame = alpha_by_context_bucket(alpha, context)
    assert frame["bucket"].tolist() == list(CONTEXT_BUCKETS)
    assert frame["n_rows"].tolist() == [2, 0, 2]
    np.testing.assert_allclose(frame.loc[[0, 2], list(ALPHA_COLUMNS)], [[0.5, 0.3, 0.2], [0.2, 0.1, 0.7]])
    assert frame.loc[1, list(ALPHA_COLUMNS)].isna().all()
