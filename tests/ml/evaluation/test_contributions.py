import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.evaluation.contributions import component_contributions, diagnosis_record, effective_shares
from hybridrec_ml.evaluation.metrics import ndcg_at_k
from hybridrec_ml.evaluation.protocols import user_mean
from hybridrec_ml.evaluation.variant_evaluation import evaluate_variant
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.models.hybrid import without_component
from hybridrec_ml.tensors.sequences import batch_maker
from tests.ml.reporting.conftest import evaluation
from tests.ml.training.planted import planted_bundle


def test_dropping_a_component_renormalises_the_others():
    alpha = torch.tensor([[0.5, 0.3, 0.2], [1.0, 0.0, 0.0]])
    torch.testing.assert_close(without_component(alpha, 0), torch.tensor([[0.0, 0.6, 0.4], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(without_component(alpha, 2), torch.tensor([[0.625, 0.375, 0.0], [1.0, 0.0, 0.0]]))


def test_effective_share_weights_alpha_by_the_score_spread():
    # the demo observation: content α 0.14 but a spread 3.6x the GRU's
    alpha = torch.tensor([[0.2, 0.66, 0.14]])
    shares = effective_shares(alpha, torch.tensor([[1.0, 1.0, 3.6]]))
    torch.testing.assert_close(shares, torch.tensor([[0.2, 0.66, 0.504]]) / 1.364)
    assert float(shares[0, 2]) == pytest.approx(0.3695, abs=1e-4)  # 37 %, not 14 %
    assert torch.equal(effective_shares(alpha, torch.zeros(1, 3)), torch.zeros(1, 3))


def _brute_force_ranks(scores: torch.Tensor, bundle) -> np.ndarray:
    """Per test row: catalogue items other than the positive that score at or above it, minus the items
    its user had before the row (the history mask), one row at a time."""
    test, timeline = bundle.test, bundle.timeline
    ranks = []
    for r in range(len(test)):
        user, event, positive = int(test.user[r]), int(test.event_order[r]), int(test.item[r])
        lo, hi = int(timeline.ptr[user]), int(timeline.ptr[user + 1])
        had = {int(i) for i, e in zip(timeline.item[lo:hi], timeline.event_order[lo:hi]) if int(e) < event}
        ahead = [j for j in range(bundle.n_items) if j != positive and j not in had and scores[r, j] >= scores[r, positive]]
        ranks.append(len(ahead))
    return np.array(ranks)


def test_full_ranking_contributions_match_a_brute_force_drop_and_cover_every_segment():
    bundle = planted_bundle(n_users=8, per_user=6)
    torch.manual_seed(0)
    variant = VARIANTS["v1"]
    model = build_model(variant, bundle).eval()
    make_query = batch_maker(variant, bundle, "test")
    negatives = torch.randint(0, bundle.n_items, (len(bundle.test), 9), generator=torch.Generator().manual_seed(1))
    evaluated = evaluate_variant(model, bundle, negatives, variant="v1", seed=0, make_query=make_query)
    frame = component_contributions(model, bundle, evaluated, bounds=(0, 3, 10, 30), make_query=make_query)

    users = bundle.test.user.numpy()
    catalogue = torch.arange(bundle.n_items).expand(len(bundle.test), -1)
    with torch.no_grad():
        parts = model.component_scores(make_query(torch.arange(len(bundle.test))), catalogue)
    overall = frame[frame.segment == "all"].set_index("component")
    assert list(overall.index) == ["static", "dynamic", "content"]
    full = ndcg_at_k(_brute_force_ranks(parts.fused(), bundle), 10)
    assert overall["ndcg@10"].iloc[0] == pytest.approx(user_mean(full, users))
    for k, name in enumerate(overall.index):
        without = ndcg_at_k(_brute_force_ranks(parts.fused(without_component(parts.alpha, k)), bundle), 10)
        assert overall.loc[name, "ndcg@10_without"] == pytest.approx(user_mean(without, users))
        assert overall.loc[name, "alpha"] == pytest.approx(user_mean(parts.alpha[:, k].double().numpy(), users), rel=1e-5)
        spread = parts.scores[:, :, k].std(dim=1, unbiased=False).double().numpy()  # over the whole catalogue
        assert overall.loc[name, "score_spread"] == pytest.approx(user_mean(spread, users), rel=1e-4)
    assert overall["ndcg@10_without"].nunique() == 3  # the drops differ, so a swapped component would show
    assert overall["effective_share"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(overall["ndcg_drop"], overall["ndcg@10"] - overall["ndcg@10_without"])
    assert list(dict.fromkeys(frame.segment)) == ["all", "0 (cold)", "1-3", "4-10", "11-30", ">30"]
    counts = frame.groupby("segment", sort=False)[["n_users", "n_rows"]].first()
    assert counts.loc["all"].tolist() == [len(np.unique(users)), len(bundle.test)]
    assert counts.n_rows.drop("all").sum() == len(bundle.test)


def test_dropping_scores_every_path_with_the_renormalised_gate_and_only_in_eval_mode():
    bundle = planted_bundle(n_users=8, per_user=6)
    torch.manual_seed(0)
    model = build_model(VARIANTS["v1"], bundle).eval()
    batch = batch_maker(VARIANTS["v1"], bundle, "test")(torch.arange(len(bundle.test)))
    catalogue = torch.arange(bundle.n_items).expand(len(bundle.test), -1)
    with torch.no_grad():
        parts = model.component_scores(batch, catalogue)
        expected = parts.fused(without_component(parts.alpha, 1))
        with model.dropping(1):
            torch.testing.assert_close(model.score_all_items(batch).scores, expected)
            torch.testing.assert_close(model.score_candidates(batch, catalogue).scores, expected)
        torch.testing.assert_close(model.score_all_items(batch).scores, parts.fused())  # restored after the block
    with pytest.raises(ValueError, match="no present component 3"):
        with model.dropping(3):
            pass
    model.train()
    with pytest.raises(RuntimeError, match="inference-time"):
        with model.dropping(0):
            pass


def test_a_model_whose_only_spread_is_content_gives_content_the_whole_effective_share():
    alpha = torch.tensor([[0.9, 0.05, 0.05]])  # static and dynamic rank nothing
    torch.testing.assert_close(effective_shares(alpha, torch.tensor([[0.0, 0.0, 5.0]])), torch.tensor([[0.0, 0.0, 1.0]]))


def test_the_diagnosis_records_full_ranking_ndcg_of_the_evaluation_as_primary_and_sampled_beside_it():
    # full ranks of rows of users [0, 0, 1, 2, 3]: per-user full NDCG@10 0.5, 1, 0, 1 (mean 0.625)
    evaluated = evaluation("v1", 42, [0, 100, 0, 100, 0], (0.5, 0.3, 0.2))
    evaluated = dataclasses.replace(evaluated, sampled=dataclasses.replace(evaluated.sampled, ranks=np.array([0, 0, 0, 100, 100])))
    summary = {"history": [], "summary": {"best_epoch": 0}}
    contributions = pd.DataFrame.from_records([{"segment": "all", "component": "static"}])
    record = diagnosis_record("v1", 42, summary, contributions, evaluated)
    full = record["ndcg_full_user_ci"]
    assert (full["mean"], full["n_users"], full["mask"]) == (0.625, 4, "history")
    # t(0.975, 3) · sd([0.5, 1, 0, 1]) / 2 = 3.182446 · 0.478714 / 2
    assert full["half_width"] == pytest.approx(0.761740, abs=1e-6)
    assert (record["ndcg_sampled_user_ci"]["mean"], record["ndcg_sampled_user_ci"]["n_users"]) == (0.5, 4)  # 1, 1, 0, 0
    assert record["drop_protocol"] == "full"
    with pytest.raises(ValueError, match="needs its evaluation"):
        diagnosis_record("v1", 42, summary, contributions)
