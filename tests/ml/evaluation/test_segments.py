import math

import numpy as np
import pandas as pd
import pytest
import torch

from hybridrec_ml.config import EFFECTIVE_SHARE_COLUMNS
from hybridrec_ml.data.transforms.context_buckets import CONTEXT_BUCKETS
from hybridrec_ml.evaluation.segments import (
    ALPHA_COLUMNS,
    COLD_ITEMS,
    alpha_by_context_bucket,
    segment_labels,
    segment_of,
    segment_report,
)

HISTORY_LENGTH = np.array([0, 3, 4, 10, 11, 30, 31, 100])


def users_frame() -> pd.DataFrame:
    """What VariantEvaluation.users gives: eight users, one per history length above."""
    alpha = np.array(
        [[0.95, 0.03, 0.02]] * 2 + [[0.5, 0.25, 0.25]] * 2 + [[0.2, 0.2, 0.6], [0.4, 0.4, 0.2]] + [[0.92, 0.04, 0.04]] * 2
    )
    return pd.DataFrame(
        {
            "user": np.arange(8),
            "train_count": HISTORY_LENGTH,
            "rows": [1, 2, 1, 1, 3, 1, 1, 2],
            "full:ndcg@10": [0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 0.25, 0.75],
            "full:recall@10": [0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0],
            "per_user:ndcg@10": [0.0, 0.8, 0.4, 0.6, 1.0, 0.0, 0.2, 0.6],
            "alpha_static": alpha[:, 0],
            "alpha_dynamic": alpha[:, 1],
            "alpha_content": alpha[:, 2],
            "cold_item_rows": [1, 0, 0, 0, 2, 0, 0, 0],
            "cold_items:ndcg@10": [0.0, np.nan, np.nan, np.nan, 0.5, np.nan, np.nan, np.nan],
            "cold_items:recall@10": [0.0, np.nan, np.nan, np.nan, 1.0, np.nan, np.nan, np.nan],
        }
    )


def test_default_labels_put_cold_users_first():
    assert segment_labels() == ("0 (cold)", "1-3", "4-10", "11-30", ">30")
    assert segment_labels((3, 10)) == ("0-3", "4-10", ">10")
    with pytest.raises(ValueError):
        segment_labels((10, 3))


def test_boundaries_are_inclusive_upper_limits():
    assert segment_of(HISTORY_LENGTH).tolist() == [0, 1, 2, 2, 3, 3, 4, 4]


def test_segment_report_is_per_user_with_the_cold_item_slice():
    report = segment_report(users_frame(), has_gate=True, collapse_threshold=0.9)
    assert report["segment"].tolist() == [*segment_labels(), COLD_ITEMS]
    assert report["n_users"].tolist() == [1, 1, 2, 2, 2, 2]
    assert report["n_rows"].tolist() == [1, 2, 2, 4, 3, 3]  # the slice counts its cold-item rows
    np.testing.assert_allclose(report["ndcg@10"], [0.0, 1.0, 0.5, 0.5, 0.5, 0.25])  # each user weighs once
    np.testing.assert_allclose(report["per_user_ndcg@10"][:5], [0.0, 0.8, 0.5, 0.5, 0.4])
    assert np.isnan(report["per_user_ndcg@10"].iloc[5])
    np.testing.assert_allclose(report["alpha_static"][:5], [0.95, 0.95, 0.5, 0.3, 0.92])
    assert report["collapsed"].tolist() == [True, True, False, False, True, None]


def test_without_a_learned_gate_collapse_is_not_applicable():
    report = segment_report(users_frame(), has_gate=False, bounds=(3, 200))
    assert report["n_users"].tolist() == [2, 6, 0, 2]
    assert math.isnan(report["ndcg@10"].iloc[2])
    assert report["collapsed"].tolist() == [None, None, None, None]


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
    assert frame[list(EFFECTIVE_SHARE_COLUMNS)].isna().all().all()  # not measured


def test_effective_share_per_context_bucket_is_the_mean_over_the_buckets_rows():
    context = torch.tensor([context_at(10, 0), context_at(12, 5), context_at(9.5, 2), context_at(23, 6), context_at(20, 1)])
    alpha = np.full((5, 3), 1 / 3)
    share = np.array([[0.6, 0.2, 0.2], [0.0, 0.5, 0.5], [0.2, 0.2, 0.6], [0.1, 0.1, 0.8], [1.0, 0.0, 0.0]])
    frame = alpha_by_context_bucket(alpha, context, share)
    assert frame["n_rows"].tolist() == [2, 1, 2]  # Tuesday 20:00 is weekday evening
    np.testing.assert_allclose(
        frame[list(EFFECTIVE_SHARE_COLUMNS)], [[0.4, 0.2, 0.4], [1.0, 0.0, 0.0], [0.05, 0.3, 0.65]]
    )
    with pytest.raises(ValueError, match="4 effective share rows for 5 context rows"):
        alpha_by_context_bucket(alpha, context, share[:4])
