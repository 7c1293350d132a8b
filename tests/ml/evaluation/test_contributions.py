import numpy as np
import pandas as pd
import pytest
import torch

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.evaluation.contributions import (
    component_contributions,
    diagnosis_record,
    effective_shares,
    score_spread,
    user_level_ci,
    without_component,
)
from hybridrec_ml.evaluation.protocols import evaluate_sampled, user_mean
from hybridrec_ml.evaluation.significance import mean_ci
from hybridrec_ml.models.factory import build_model
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
    scores = torch.tensor([[[1.0, 1.0, 3.6], [-1.0, -1.0, -3.6]]])  # std over the 2 candidates: 1, 1, 3.6
    torch.testing.assert_close(score_spread(scores), torch.tensor([[1.0, 1.0, 3.6]]))
    shares = effective_shares(alpha, score_spread(scores))
    torch.testing.assert_close(shares, torch.tensor([[0.2, 0.66, 0.504]]) / 1.364)
    assert float(shares[0, 2]) == pytest.approx(0.3695, abs=1e-4)  # 37 %, not 14 %
    assert torch.equal(effective_shares(alpha, torch.zeros(1, 3)), torch.zeros(1, 3))


def test_score_spread_is_the_population_std_over_the_candidates():
    scores = torch.tensor([[[0.0, 5.0, 1.0], [2.0, 5.0, 1.0], [4.0, 5.0, 4.0]]])  # 3 candidates, 3 components
    # static: mean 2, squared deviations 4, 0, 4 -> variance 8/3; dynamic flat; content: mean 2, 1 + 1 + 4 -> 2
    torch.testing.assert_close(score_spread(scores), torch.tensor([[(8 / 3) ** 0.5, 0.0, 2**0.5]]))


def test_user_level_ci_averages_each_user_first():
    values = np.array([1.0, 0.0, 0.5, 0.25, 0.75])
    users = np.array([7, 7, 3, 9, 9])  # user means: 0.5, 0.5, 0.5
    ci = user_level_ci(values, users)
    assert (ci.mean, ci.half_width, ci.n) == (0.5, 0.0, 3)
    assert user_level_ci(np.array([1.0, 0.0, 0.0]), np.array([1, 2, 3])) == mean_ci([1.0, 0.0, 0.0])


def test_contributions_agree_with_the_sampled_protocol_and_cover_every_segment():
    bundle = planted_bundle(n_users=8, per_user=6)
    torch.manual_seed(0)
    variant = VARIANTS["v1"]
    model = build_model(variant, bundle).eval()
    negatives = torch.randint(0, bundle.n_items, (len(bundle.test), 9), generator=torch.Generator().manual_seed(1))
    history = bundle.user_train_count[bundle.test.user].numpy()
    history[:3] = 0  # as if the first rows' user were cold, so that segment is not empty
    make_query = batch_maker(variant, bundle, "test")
    frame, ndcg = component_contributions(model, bundle.test, negatives, history, bounds=(0, 3, 10, 30), make_query=make_query)
    reference = evaluate_sampled(model, bundle.test, negatives, make_query=make_query)
    np.testing.assert_allclose(ndcg, reference.ndcg_at_10)
    users = bundle.test.user.numpy()
    overall = frame[frame.segment == "all"].set_index("component")
    assert list(overall.index) == ["static", "dynamic", "content"]
    for k, name in enumerate(overall.index):  # each user weighs once, as in the segment report
        assert overall.loc[name, "alpha"] == pytest.approx(user_mean(reference.alpha[:, k].astype(np.float64), users), rel=1e-6)
    assert overall["ndcg@10"].iloc[0] == pytest.approx(user_mean(reference.ndcg_at_10, users))
    assert overall["effective_share"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(overall["ndcg_drop"], overall["ndcg@10"] - overall["ndcg@10_without"])
    assert list(dict.fromkeys(frame.segment)) == ["all", "0 (cold)", "1-3", "4-10", "11-30", ">30"]
    counts = frame.groupby("segment", sort=False)[["n_users", "n_rows"]].first()
    assert counts.loc["all"].tolist() == [len(np.unique(users)), len(bundle.test)]
    assert counts.loc["0 (cold)", "n_rows"] == 3
    assert counts.n_rows.drop("all").sum() == len(bundle.test)


def test_a_model_whose_only_spread_is_content_gives_content_the_whole_effective_share():
    alpha = torch.tensor([[0.9, 0.05, 0.05]])
    scores = torch.tensor([[[2.0, 1.0, 5.0], [2.0, 1.0, -5.0]]])  # static and dynamic rank nothing
    torch.testing.assert_close(effective_shares(alpha, score_spread(scores)), torch.tensor([[0.0, 0.0, 1.0]]))


def test_the_diagnosis_records_full_ranking_ndcg_of_the_evaluation_as_primary_and_sampled_beside_it():
    # full ranks of rows of users [0, 0, 1, 2, 3]: per-user full NDCG@10 0.5, 1, 0, 1 (mean 0.625)
    evaluated = evaluation("v1", 42, [0, 100, 0, 100, 0], (0.5, 0.3, 0.2))
    summary = {"history": [], "summary": {"best_epoch": 0}}
    contributions = pd.DataFrame.from_records([{"segment": "all", "component": "static"}])
    sampled = np.array([1.0, 1.0, 1.0, 0.0, 0.0])  # per row, the contributions' own (sampled) NDCG@10
    record = diagnosis_record("v1", 42, summary, contributions, sampled, evaluated.row_user, evaluated)
    full = record["ndcg_full_user_ci"]
    assert (full["mean"], full["n_users"], full["mask"]) == (0.625, 4, "history")
    # t(0.975, 3) · sd([0.5, 1, 0, 1]) / 2 = 3.182446 · 0.478714 / 2
    assert full["half_width"] == pytest.approx(0.761740, abs=1e-6)
    assert (record["ndcg_sampled_user_ci"]["mean"], record["ndcg_sampled_user_ci"]["n_users"]) == (0.5, 4)  # 1, 1, 0, 0
    with pytest.raises(ValueError, match="needs its sampled NDCG, users and evaluation"):
        diagnosis_record("v1", 42, summary, contributions, sampled, evaluated.row_user)
