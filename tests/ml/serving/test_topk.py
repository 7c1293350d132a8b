"""The running top-K over item blocks: exact lists on a hand-written score table, for every block size."""

import pytest
import torch

from hybridrec_ml.models.base import Recommender, Scores
from hybridrec_ml.serving.consumption import ConsumptionLog, query_batch
from hybridrec_ml.serving.topk import excluded_pairs, top_k
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.bundle import SparseRows

SCORES = torch.tensor(
    [
        [0.5, 0.9, 0.9, 0.1, 0.9, 0.3],  # user 0: a three-way tie at 0.9
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # user 1: everything tied (popularity-like)
        [0.0, -1.0, 2.0, 3.0, -5.0, 1.0],  # user 2
    ]
)


class TableScorer(Recommender):
    """Scores from SCORES[user, item]; implements only score_candidates, as a minimal model may."""

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        return Scores(SCORES[batch.user.unsqueeze(1), candidates], None)


def _consumed(rows: list[list[int]]) -> SparseRows:
    ptr = torch.tensor([0, *torch.cumsum(torch.tensor([len(r) for r in rows]), 0).tolist()])
    return SparseRows(ptr, torch.tensor([i for r in rows for i in r], dtype=torch.int64), None, 6)


@pytest.mark.parametrize("item_chunk", [1, 2, 3, 4, 6, 100])
def test_top_k_orders_by_score_then_item_and_leaves_consumed_items_out(item_chunk):
    consumed = _consumed([[1], [0, 5], [3, 2, 5, 0, 1, 4]])
    users = torch.tensor([0, 1, 2])
    model = TableScorer()
    batch = query_batch(consumed, users, torch.zeros(5), 50, torch.full((3,), -1))
    best = top_k(model, model.encode_queries(batch), batch.context, excluded_pairs(consumed, users), 3, 6, item_chunk)
    assert best.items.tolist() == [[2, 4, 0], [1, 2, 3], [-1, -1, -1]]  # user 2 consumed everything
    assert best.scores[:2].tolist() == [[pytest.approx(0.9), pytest.approx(0.9), 0.5], [1.0, 1.0, 1.0]]
    assert torch.isneginf(best.scores[2]).all()
    assert best.alpha is None


def test_k_beyond_what_remains_pads_with_minus_one():
    consumed = _consumed([[], [0, 5], [3]])
    users = torch.tensor([1, 2])
    model = TableScorer()
    batch = query_batch(consumed, users, torch.zeros(5), 50, torch.full((2,), -1))
    best = top_k(model, model.encode_queries(batch), batch.context, excluded_pairs(consumed, users), 6, 6, 4)
    assert best.items.tolist() == [[1, 2, 3, 4, -1, -1], [2, 5, 0, 1, 4, -1]]


def test_consumption_log_cuts_history_and_consumed_items_at_a_moment():
    # user 0: items 4, 2, 5 at t = 10, 20, 30; user 1: item 1 at t = 5
    log = ConsumptionLog(SparseRows(torch.tensor([0, 3, 4]), torch.tensor([4, 2, 5, 1]), None, 6), torch.tensor([10, 20, 30, 5]))
    until = log.until(20)
    assert until.ptr.tolist() == [0, 2, 3] and until.index.tolist() == [4, 2, 1]
    assert log.user_until(0, 29).tolist() == [4, 2] and log.user_until(0, 9).tolist() == []
    assert log.end_ts == 30
    # seconds since the last interaction at or before the moment; -1 before the first (user 0 at 9)
    assert log.since_last(torch.tensor([0, 1]), 20).tolist() == [0, 15]
    assert log.since_last(torch.tensor([1, 0, 0]), 9).tolist() == [4, -1, -1]
    assert log.since_last(torch.tensor([0]), 1000).tolist() == [970]
    # one user, by a binary search in its segment (the service's path): the same values
    assert [log.user_since_last(0, 20), log.user_since_last(1, 20), log.user_since_last(0, 9), log.user_since_last(0, 1000)] == [0, 15, -1, 970]
    batch = query_batch(until, torch.tensor([0, 1]), torch.arange(5.0), 1, log.since_last(torch.tensor([0, 1]), 20))
    assert batch.history.tolist() == [[3], [2]]  # the last item only, as item_idx + 1
    assert batch.context.tolist() == [[0.0, 1.0, 2.0, 3.0, 4.0]] * 2
    assert batch.since_previous.tolist() == [0, 15]


def test_a_nan_score_is_refused_not_ranked():
    class NaNScorer(TableScorer):
        def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
            scores = SCORES[batch.user.unsqueeze(1), candidates].clone()
            scores[candidates == 4] = float("nan")
            return Scores(scores, None)

    consumed = _consumed([[], [], []])
    model = NaNScorer()
    batch = query_batch(consumed, torch.tensor([2]), torch.zeros(5), 50, torch.tensor([-1]))
    with pytest.raises(ValueError, match="NaN scores"):
        top_k(model, model.encode_queries(batch), batch.context, excluded_pairs(consumed, torch.tensor([2])), 2, 6, 3)
