import math

import numpy as np
import pytest
import torch

from hybridrec_ml.evaluation.metrics import (
    mean_metrics,
    ndcg_at_k,
    per_row_metrics,
    positive_rank,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
)

RANKS = np.array([0, 1, 4, 5, 9, 10, 25])


def test_positive_rank_counts_ties_against_the_positive():
    positive = torch.tensor([0.5, 0.5, 1.0])
    others = torch.tensor([[0.5, 0.2, 0.9, -math.inf], [0.1, 0.2, 0.3, 0.4], [1.0, 1.0, 1.0, 1.0]])
    assert positive_rank(positive, others).tolist() == [2, 0, 4]


def test_ndcg_is_inverse_log_discount_inside_the_cutoff():
    expected = [1.0, 1 / math.log2(3), 1 / math.log2(6), 1 / math.log2(7), 1 / math.log2(11), 0.0, 0.0]
    np.testing.assert_allclose(ndcg_at_k(RANKS, 10), expected)
    np.testing.assert_allclose(ndcg_at_k(RANKS, 5), [1.0, 1 / math.log2(3), 1 / math.log2(6), 0, 0, 0, 0])


def test_recall_precision_and_reciprocal_rank():
    assert recall_at_k(RANKS, 5).tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert recall_at_k(RANKS, 20).tolist() == [1, 1, 1, 1, 1, 1, 0]
    np.testing.assert_allclose(precision_at_k(RANKS, 10), [0.1, 0.1, 0.1, 0.1, 0.1, 0, 0])
    np.testing.assert_allclose(reciprocal_rank(RANKS), [1, 1 / 2, 1 / 5, 1 / 6, 1 / 10, 1 / 11, 1 / 26])


def test_per_row_and_mean_metrics_use_the_documented_names():
    rows = per_row_metrics(RANKS, ks=(10,))
    assert sorted(rows) == ["mrr", "ndcg@10", "precision@10", "recall@10"]
    means = mean_metrics(RANKS)
    assert means["recall@10"] == pytest.approx(5 / 7)
    assert means["precision@5"] == pytest.approx(3 / 7 / 5)
    assert means["ndcg@20"] == pytest.approx(
        (1 + 1 / math.log2(3) + 1 / math.log2(6) + 1 / math.log2(7) + 1 / math.log2(11) + 1 / math.log2(12)) / 7
    )
    assert means["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 6 + 1 / 10 + 1 / 11 + 1 / 26) / 7)


def test_mean_metrics_of_no_rows_are_nan():
    assert all(math.isnan(v) for v in mean_metrics(np.zeros(0, dtype=np.int64)).values())
