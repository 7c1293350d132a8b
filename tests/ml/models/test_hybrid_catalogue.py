"""The hybrid's whole-catalogue scoring (full ranking's fast path) equals scoring every item as a candidate."""

import pytest
import torch

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.tensors.batching import make_batch
from hybridrec_ml.evaluation.protocols import evaluate_full
from hybridrec_ml.models import hybrid
from hybridrec_ml.models.factory import build_model
from tests.ml.training.planted import planted_bundle

BUNDLE = planted_bundle(n_users=8, per_user=6)
ROWS = torch.tensor([0, 1, 8, 9, 16, 17, 24, 25, 26, 27, 28, 29])  # histories of length 0 to 3
BATCH = make_batch(BUNDLE.train, ROWS, 50)


def trained_looking(name: str) -> hybrid.HybridRecommender:
    torch.manual_seed(0)
    model = build_model(VARIANTS[name], BUNDLE)
    return model.eval()


@pytest.mark.parametrize("name", ["v1", "no_dynamic", "no_content", "no_attention", "static_only"])
def test_catalogue_scores_equal_every_item_scored_as_a_candidate(name, monkeypatch):
    model = trained_looking(name)
    with torch.no_grad():
        candidates = torch.arange(BUNDLE.n_items).expand(len(ROWS), -1)
        expected = model.score_candidates(BATCH, candidates)
        monkeypatch.setitem(hybrid.CATALOGUE_BLOCK_PAIRS, "cpu", len(ROWS) * 5)  # blocks of 5 items
        everything = model.score_all_items(BATCH)
    assert everything.scores.shape == (len(ROWS), BUNDLE.n_items)
    torch.testing.assert_close(everything.scores, expected.scores, rtol=0, atol=1e-6)
    assert torch.equal(everything.alpha, expected.alpha)


def test_each_distinct_static_row_side_is_scored_once(monkeypatch):
    model = trained_looking("no_dynamic")
    batch = make_batch(BUNDLE.train, torch.tensor([0, 8, 16, 24, 1, 9]), 50)  # users 0, 0, 0, 0, 1, 1
    with torch.no_grad():
        static = model.components["static"]
        combined: list[int] = []
        combine = static.combine
        monkeypatch.setattr(static, "combine", lambda row, item: combined.append(row.shape[0]) or combine(row, item))
        deduplicated = model.score_all_items(batch).scores
        assert set(combined) == {2}  # the two users' row sides, not the 6 rows'
        monkeypatch.setattr(hybrid, "_distinct_rows", lambda rows: None)
        every_row = model.score_all_items(batch).scores
    assert combined[-1] == 6
    assert torch.equal(deduplicated, every_row)


def test_training_mode_has_no_fast_path():
    model = trained_looking("v1").train()
    assert model.score_all_items(BATCH) is None


def test_item_blocks_never_change_a_full_ranking_rank(monkeypatch):
    model = trained_looking("v1")
    split, seen = BUNDLE.test, BUNDLE.timeline
    whole = evaluate_full(model, split, seen, BUNDLE.n_items, row_chunk=len(split))
    monkeypatch.setitem(hybrid.CATALOGUE_BLOCK_PAIRS, "cpu", 3 * 7)  # 3 rows x 7 items per block
    blocked = evaluate_full(model, split, seen, BUNDLE.n_items, row_chunk=3)
    assert BUNDLE.n_items > 7 and len(split) > 3
    assert torch.equal(torch.from_numpy(blocked.ranks), torch.from_numpy(whole.ranks))


@pytest.mark.parametrize("name", ["v1", "no_dynamic", "static_only"])
def test_catalogue_spread_is_the_std_of_each_component_score_over_every_item(name, monkeypatch):
    # the effective share's spread in full ranking: the diagnosis's definition with every item a candidate
    model = trained_looking(name)
    with torch.no_grad():
        parts = model.component_scores(BATCH, torch.arange(BUNDLE.n_items).expand(len(ROWS), -1))
        monkeypatch.setitem(hybrid.CATALOGUE_BLOCK_PAIRS, "cpu", len(ROWS) * 5)  # running sums over blocks of 5 items
        spread = model.score_all_items(BATCH).component_spread
    expected = torch.zeros(len(ROWS), 3)
    expected[:, model.positions] = parts.scores.std(dim=1, unbiased=False)  # population std over the catalogue
    torch.testing.assert_close(spread, expected, rtol=1e-5, atol=1e-6)
    assert (spread[:, model.positions] > 0).all()  # absent components stay 0


def test_the_catalogue_is_kept_across_eval_calls_and_dropped_when_training_starts_or_ends():
    model = build_model(VARIANTS["v1"], planted_bundle(n_users=8, per_user=6)).eval()
    tables = model.catalogue_item_sides()
    assert model.eval().catalogue_item_sides() is tables  # the evaluation protocols each call eval(): computed once
    model.train()
    assert model._catalogue is None  # weights are about to change
    model.catalogue_item_sides()
    model.eval()
    assert model._catalogue is None  # they just did
