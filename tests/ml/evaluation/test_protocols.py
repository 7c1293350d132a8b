import math

import numpy as np
import pytest
import torch

from hybridrec_ml.tensors.bundle import InteractionSet
from hybridrec_ml.evaluation.protocols import evaluate_full, evaluate_sampled, full_ranking_rows, make_validator, user_mean
from hybridrec_ml.models.base import Scores
from hybridrec_ml.tensors.batch import Batch
from tests.ml.evaluation.conftest import TableScorer, TableScorerWithCatalogue, sparse_rows, timeline

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


def test_validator_ranks_the_full_catalogue_of_a_fixed_subset_as_a_user_mean(test_split, train_items):
    model = TableScorer()
    model.train()
    validate = make_validator(test_split, train_items, 6, max_rows=2)
    # Evenly spaced subset of 4 rows with 2 slots: rows 0 (user 0) and 3 (user 1), full ranks 1 and 4.
    assert validate(model) == pytest.approx((1 / math.log2(3) + 1 / math.log2(6)) / 2)
    assert model.training
    everything = make_validator(test_split, train_items, 6, max_rows=10)
    # Each user's rows are averaged first: user 0 has ranks 1 and 0, user 1 has ranks 1 and 4.
    user_0, user_1 = (1 / math.log2(3) + 1.0) / 2, (1 / math.log2(3) + 1 / math.log2(6)) / 2
    assert everything(model) == pytest.approx((user_0 + user_1) / 2)


def test_user_mean_weighs_every_user_once():
    assert user_mean(np.array([1.0, 0.0, 0.0, 0.5]), np.array([7, 7, 7, 2])) == pytest.approx((1 / 3 + 0.5) / 2)


def test_both_full_ranking_paths_match_a_brute_force_count_over_the_whole_history():
    """Random train / val / test events; a test row masks what its user had before it, in any split."""
    generator = torch.Generator().manual_seed(5)
    n_users, n_items, n_events = 7, 50, 200
    table = torch.randint(0, 6, (n_users, n_items), generator=generator).float()  # many ties on purpose
    users = torch.randint(n_users, (n_events,), generator=generator)
    items = torch.randint(n_items, (n_events,), generator=generator)  # repeats on purpose
    seen = timeline(list(zip(range(n_events), users.tolist(), items.tolist())), n_users, n_items)
    test = torch.arange(150, n_events)  # events 0-119 train, 120-149 val, 150-199 test
    no_history = sparse_rows([[]] * len(test), n_items)
    split = InteractionSet(test, users[test], items[test], torch.zeros(len(test), 5), no_history)

    def brute_force(first_masked_event: int, cutoff: int | None) -> list[int]:
        ranks = []
        for row in test.tolist():
            user, positive = int(users[row]), int(items[row])
            before = range(first_masked_event, row if cutoff is None else min(row, cutoff))
            masked = {int(items[e]) for e in before if int(users[e]) == user}
            ranks.append(sum(
                1 for other in range(n_items)
                if other != positive and other not in masked and table[user, other] >= table[user, positive]
            ))  # fmt: skip
        return ranks

    history, train_only = brute_force(0, None), brute_force(0, 120)
    assert history != train_only  # the val and earlier test items matter here
    for model in (TableScorer(False, table), TableScorerWithCatalogue(False, table)):
        assert evaluate_full(model, split, seen, n_items, row_chunk=16, item_chunk=7).ranks.tolist() == history
        assert evaluate_full(model, split, seen.truncated(120), n_items, row_chunk=16).ranks.tolist() == train_only


def test_history_mask_hand_example():
    """User 0: train item 2, val item 5, test rows item 3 then item 1 (earlier test item 3 is masked then)."""
    seen = timeline([(0, 0, 2), (1, 0, 5), (2, 0, 3), (3, 0, 1)], 1, 6)
    table = torch.tensor([[0.9, 0.1, 0.5, 0.5, 0.3, 0.7]])
    split = InteractionSet(
        torch.tensor([2, 3]), torch.tensor([0, 0]), torch.tensor([3, 1]), torch.zeros(2, 5), sparse_rows([[2, 5], [2, 5, 3]], 6)
    )
    # row item 3 (0.5): 2 and 5 masked, 0 (0.9) ahead: rank 1; train-only mask: 0, 5 ahead: rank 2
    # row item 1 (0.1): 2, 5, 3 masked, 0 and 4 ahead: rank 2; train-only mask: 0, 3, 4, 5 ahead: rank 4
    assert evaluate_full(TableScorer(False, table), split, seen, 6).ranks.tolist() == [1, 2]
    assert evaluate_full(TableScorer(False, table), split, seen.truncated(1), 6).ranks.tolist() == [2, 4]


class WrongWidth(TableScorerWithCatalogue):
    def score_all_items(self, batch: Batch) -> Scores:
        return Scores(torch.zeros(batch.user.numel(), 5), None)


def test_catalogue_scores_must_cover_every_item(test_split, train_items):
    with pytest.raises(ValueError, match="for 6 items"):
        evaluate_full(WrongWidth(), test_split, train_items, 6)


class RecordingScorer(TableScorerWithCatalogue):
    """Records the users of every block it scores."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[list[int]] = []

    def score_all_items(self, batch: Batch) -> Scores:
        self.blocks.append(batch.user.tolist())
        return super().score_all_items(batch)


def test_full_ranking_scores_rows_grouped_by_user_and_returns_them_in_the_callers_order(test_split, train_items):
    model = RecordingScorer()
    result = evaluate_full(model, test_split, train_items, 6, rows=torch.tensor([2, 0, 3, 1]), row_chunk=2)
    assert model.blocks == [[0, 0], [1, 1]]  # in the callers order the blocks would be [1, 0], [1, 0]
    assert result.ranks.tolist() == [FULL_RANKS[2], FULL_RANKS[0], FULL_RANKS[3], FULL_RANKS[1]]
    assert result.event_order.tolist() == [102, 100, 103, 101]


def test_full_ranking_blocks_on_the_cpu_follow_the_catalogue_size():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert full_ranking_rows(None, cpu, 1195) == 877  # 2**20 scores per block
    assert full_ranking_rows(None, cpu, 200) == 1024  # at most 1024 rows
    assert full_ranking_rows(None, cpu, 160_000) == 128  # a full catalogue keeps the row_chunk default
    assert full_ranking_rows(64, cpu, 1195) == 64  # the caller's choice wins
    assert full_ranking_rows(None, cuda, 1195) == 1024  # the GPU default


SPREAD_BY_USER = torch.tensor([[1.0, 2.0, 0.5], [0.0, 3.0, 1.0]])


class SpreadScorer(TableScorerWithCatalogue):
    """The catalogue path also reports each component's score spread (fixed per user)."""

    def score_all_items(self, batch: Batch) -> Scores:
        return Scores(self.table[batch.user], self._alpha(batch), SPREAD_BY_USER[batch.user])


def test_full_ranking_keeps_each_rows_component_spread_in_row_order(test_split, train_items):
    result = evaluate_full(SpreadScorer(), test_split, train_items, 6, rows=torch.tensor([3, 0, 2]), row_chunk=2)
    np.testing.assert_array_equal(result.component_spread, SPREAD_BY_USER[[1, 0, 1]].numpy())
    assert evaluate_full(TableScorerWithCatalogue(), test_split, train_items, 6).component_spread is None
    assert evaluate_full(TableScorer(), test_split, train_items, 6).component_spread is None  # item-chunk path
    assert evaluate_sampled(SpreadScorer(), test_split, NEGATIVES).component_spread is None  # a catalogue measure
