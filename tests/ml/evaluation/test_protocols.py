import math

import numpy as np
import pytest
import torch

from hybridrec_ml.evaluation.protocols import evaluate_full, evaluate_sampled, make_validator
from hybridrec_ml.models.base import Scores
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.bundle import InteractionSet
from tests.ml.evaluation.conftest import TableScorer, TableScorerWithCatalogue, sparse_rows

# Row positives (scores): u0 item 3 (0.5), u0 item 0 (0.9), u1 item 5 (0.6), u1 item 4 (0.0).
NEGATIVES = torch.tensor([[1, 5, 2], [1, 3, 4], [3, 0, 2], [0, 2, 3]])
SAMPLED_RANKS = [2, 0, 1, 3]  # row 0: 0.7 and the tied 0.5 rank ahead; row 2: the tied 0.6
# Full catalogue without the user's training items (u0: 0, 2; u1: 1), the positive always kept:
# row 0: only item 5 (0.7) is ahead; item 2 ties but is a training item.
# row 1: positive item 0 is itself a training item and still ranked: nothing ahead.
# row 2: item 3 ties at 0.6.  row 3: items 0, 2, 3, 5 all score above 0.0.
FULL_RANKS = [1, 0, 1, 4]


def test_sampled_protocol_ranks_against_the_stored_negatives(test_split):
    result = evaluate_sampled(TableScorer(), test_split, NEGATIVES, batch_size=3)
    assert result.protocol == "sampled"
    assert result.ranks.tolist() == SAMPLED_RANKS
    assert result.event_order.tolist() == [100, 101, 102, 103]
    expected_ndcg = [0.5, 1.0, 1 / math.log2(3), 1 / math.log2(5)]
    np.testing.assert_allclose(result.ndcg_at_10, expected_ndcg)
    assert result.metrics["ndcg@10"] == pytest.approx(sum(expected_ndcg) / 4)
    assert result.metrics["mrr"] == pytest.approx((1 / 3 + 1 + 1 / 2 + 1 / 4) / 4)
    assert result.alpha_mean == pytest.approx((0.5, 0.25, 0.25))


@pytest.mark.parametrize("model", [TableScorer(), TableScorerWithCatalogue()], ids=["item-chunks", "catalogue"])
def test_full_ranking_masks_training_items_but_not_the_positive(test_split, train_items, model):
    result = evaluate_full(model, test_split, train_items, 6, row_chunk=3, item_chunk=4)
    assert result.protocol == "full"
    assert result.ranks.tolist() == FULL_RANKS
    np.testing.assert_allclose(result.alpha, [[0.8, 0.1, 0.1]] * 2 + [[0.2, 0.4, 0.4]] * 2, rtol=1e-6)


def test_full_ranking_of_selected_rows_without_a_gate(test_split, train_items):
    result = evaluate_full(TableScorer(with_alpha=False), test_split, train_items, 6, rows=torch.tensor([3, 0]))
    assert result.ranks.tolist() == [4, 1]
    assert result.event_order.tolist() == [103, 100]
    assert result.alpha is None and result.alpha_mean is None


class ConstantScorer(TableScorerWithCatalogue):
    """Scores every item the same: pessimistic ties must put the positive last."""

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        return Scores(torch.zeros(candidates.shape), None)

    def score_all_items(self, batch: Batch) -> Scores:
        return Scores(torch.zeros(batch.user.numel(), 6), None)


def test_constant_scores_get_the_worst_rank(test_split, train_items):
    assert evaluate_sampled(ConstantScorer(), test_split, NEGATIVES).ranks.tolist() == [3, 3, 3, 3]
    # Candidates left after masking: u0 has 4 (row 1 keeps its positive: 5), u1 has 5.
    assert evaluate_full(ConstantScorer(), test_split, train_items, 6).ranks.tolist() == [3, 4, 4, 4]


class NanScorer(TableScorer):
    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        return Scores(torch.full(candidates.shape, float("nan")), None)


def test_nan_scores_are_refused(test_split, train_items):
    with pytest.raises(ValueError, match="NaN"):
        evaluate_sampled(NanScorer(), test_split, NEGATIVES)
    with pytest.raises(ValueError, match="NaN"):
        evaluate_full(NanScorer(), test_split, train_items, 6)


def test_validator_scores_a_fixed_subset_and_restores_train_mode(test_split):
    model = TableScorer()
    model.train()
    validate = make_validator(test_split, NEGATIVES, max_history=50, max_rows=2)
    # Evenly spaced subset of 4 rows with 2 slots: rows 0 and 3 (ranks 2 and 3).
    assert validate(model) == pytest.approx((0.5 + 1 / math.log2(5)) / 2)
    assert model.training
    everything = make_validator(test_split, NEGATIVES, max_rows=10)
    assert everything(model) == pytest.approx((0.5 + 1.0 + 1 / math.log2(3) + 1 / math.log2(5)) / 4)


def test_both_full_ranking_paths_match_a_brute_force_count():
    generator = torch.Generator().manual_seed(5)
    n_users, n_items, n_rows = 7, 50, 40
    table = torch.randint(0, 6, (n_users, n_items), generator=generator).float()  # many ties on purpose
    users = torch.randint(n_users, (n_rows,), generator=generator)
    items = torch.randint(n_items, (n_rows,), generator=generator)
    train_sets = [sorted(set(torch.randint(n_items, (12,), generator=generator).tolist())) for _ in range(n_users)]
    no_history = sparse_rows([[]] * n_rows, n_items)
    split = InteractionSet(torch.arange(n_rows), users, items, torch.zeros(n_rows, 5), no_history)
    expected = [
        sum(
            1
            for other in range(n_items)
            if other != positive and other not in train_sets[user] and table[user, other] >= table[user, positive]
        )
        for user, positive in zip(users.tolist(), items.tolist())
    ]
    train = sparse_rows(train_sets, n_items)
    for model in (TableScorer(False, table), TableScorerWithCatalogue(False, table)):
        assert evaluate_full(model, split, train, n_items, row_chunk=16, item_chunk=7).ranks.tolist() == expected


class WrongWidth(TableScorerWithCatalogue):
    def score_all_items(self, batch: Batch) -> Scores:
        return Scores(torch.zeros(batch.user.numel(), 5), None)


def test_catalogue_scores_must_cover_every_item(test_split, train_items):
    with pytest.raises(ValueError, match="for 6 items"):
        evaluate_full(WrongWidth(), test_split, train_items, 6)
