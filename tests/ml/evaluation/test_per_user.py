"""The per-user (RecBole full-sort) protocol against positions and metrics worked out by hand."""

import math

import numpy as np
import pytest
import torch

from hybridrec_ml.tensors.bundle import InteractionSet
from hybridrec_ml.evaluation.metrics import per_user_metrics
from hybridrec_ml.evaluation.protocols import evaluate_per_user
from hybridrec_ml.models.base import Scores
from hybridrec_ml.tensors.batch import Batch
from tests.ml.evaluation.conftest import TableScorer, TableScorerWithCatalogue, sparse_rows

TABLE = torch.tensor(
    [
        [0.9, 0.1, 0.5, 0.5, 0.3, 0.7],  # user 0
        [0.2, 0.8, 0.4, 0.6, 0.0, 0.6],  # user 1
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # user 2: no train / valid item (cold)
    ]
)
# train + valid items: user 0 had 0 and 2, user 1 had item 1 (which is also one of its test items)
HISTORY = sparse_rows([[0, 2], [1], []], 6)
# Test rows in event order; user 0 has item 3 twice (one positive), user 2 is cold.
SPLIT = InteractionSet(
    event_order=torch.tensor([10, 11, 12, 13, 14, 15]),
    user=torch.tensor([1, 0, 2, 0, 1, 0]),
    item=torch.tensor([5, 3, 0, 4, 1, 3]),
    context=torch.zeros(6, 5),
    history=sparse_rows([[1], [0, 2], [], [0, 2, 3], [1, 5], [0, 2, 3, 4]], 6),
)
# user 0: candidates 5 (0.7), 3 (0.5), 4 (0.3), 1 (0.1); positives 3, 4 -> positions 1, 2
# user 1: item 1 (0.8) is in the history but a positive, so ranked: position 0; item 5 (0.6)
#         has the negative item 3 tied (pessimistic) and positive 1 ahead -> position 2
# user 2: positive item 0 (0.1) below all 5 other items -> position 5
POSITIONS = [1, 2, 0, 2, 5]
D1, D2 = 1.0, 1 / math.log2(3)  # discounts of places 0 and 1


@pytest.mark.parametrize("model", [TableScorer(False, TABLE), TableScorerWithCatalogue(False, TABLE)], ids=["chunks", "catalogue"])
def test_positions_follow_the_hand_ranking(model):
    result = evaluate_per_user(model, SPLIT, HISTORY, k_values=(2, 10), row_chunk=2, item_chunk=4)
    assert result.users.tolist() == [0, 1, 2]
    assert result.positive_ptr.tolist() == [0, 2, 4, 5]
    assert result.positions.tolist() == POSITIONS
    assert result.alpha is None


def test_metrics_use_recboles_normalisation():
    result = evaluate_per_user(TableScorer(False, TABLE), SPLIT, HISTORY, k_values=(2, 10))
    per_user = result.per_user
    # Recall divides by all of the user's positives; NDCG's ideal DCG by min(positives, K) places.
    np.testing.assert_allclose(per_user["recall@2"], [1 / 2, 1 / 2, 0])
    np.testing.assert_allclose(per_user["ndcg@2"], [D2 / (D1 + D2), D1 / (D1 + D2), 0])
    np.testing.assert_allclose(per_user["precision@2"], [1 / 2, 1 / 2, 0])
    np.testing.assert_allclose(per_user["hit@2"], [1, 1, 0])
    np.testing.assert_allclose(per_user["mrr@2"], [1 / 2, 1, 0])
    d3, d6 = 1 / math.log2(4), 1 / math.log2(7)
    np.testing.assert_allclose(per_user["ndcg@10"], [(D2 + d3) / (D1 + D2), (D1 + d3) / (D1 + D2), d6])
    np.testing.assert_allclose(per_user["recall@10"], [1, 1, 1])
    np.testing.assert_allclose(per_user["mrr@10"], [1 / 2, 1, 1 / 6])
    assert result.metrics["ndcg@10"] == pytest.approx(((D2 + d3) / (D1 + D2) + (D1 + d3) / (D1 + D2) + d6) / 3)


class QueryRecorder(TableScorer):
    """Records the query side each call sees, and returns a gate weight per user."""

    def __init__(self) -> None:
        super().__init__(False, TABLE)
        self.seen: list[tuple[list[int], list[int]]] = []

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        self.seen.append((batch.user.tolist(), batch.history_len.tolist()))
        alpha = torch.stack([batch.user.float(), 1 - batch.user.float(), torch.zeros(batch.user.numel())], dim=1)
        return Scores(self.table[batch.user.unsqueeze(1), candidates], alpha)


def test_the_query_is_the_users_first_row_in_the_split():
    model = QueryRecorder()
    result = evaluate_per_user(model, SPLIT, HISTORY, k_values=(10,), item_chunk=6)
    # first rows: user 0 at event 11 (history 0, 2), user 1 at 10 (history 1), user 2 at 12 (none)
    assert model.seen == [([0, 1, 2], [2, 1, 0])]
    np.testing.assert_allclose(result.alpha[:, 0], [0, 1, 2])


def test_constant_scores_put_every_positive_last():
    result = evaluate_per_user(TableScorer(False, torch.zeros(3, 6)), SPLIT, HISTORY, k_values=(10,))
    # user 0: 4 unmasked items, its 2 positives at places 2, 3; user 1: 6 items (1 is a positive), places 4, 5
    assert result.positions.tolist() == [2, 3, 4, 5, 5]


def test_per_user_metrics_need_a_positive_per_user():
    with pytest.raises(ValueError, match="at least one positive"):
        per_user_metrics(np.array([0, 1, 1]), np.array([0]))
