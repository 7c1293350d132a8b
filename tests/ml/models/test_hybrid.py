import dataclasses

import pytest
import torch

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.models.baselines.bpr_mf import BPRMF
from hybridrec_ml.models.baselines.pop import Popularity
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.models.hybrid import HybridRecommender
from hybridrec_ml.models.losses import bce_loss, bpr_loss
from hybridrec_ml.models.regularizers import load_balance, mean_negative_entropy
from hybridrec_ml.tensors.batching import make_batch
from tests.ml.training.planted import planted_bundle

BUNDLE = planted_bundle(n_users=8, per_user=6)
# training rows are time-major (8 users per step): histories of length 0, 0, 1, 1, 2, 2 and six of 3
ROWS = torch.tensor([0, 1, 8, 9, 16, 17, 24, 25, 26, 27, 28, 29])
BATCH = make_batch(BUNDLE.train, ROWS, 50)
CANDIDATES = torch.randint(0, BUNDLE.n_items, (12, 5), generator=torch.Generator().manual_seed(0))


def scored(variant_name: str):
    torch.manual_seed(0)
    model = build_model(VARIANTS[variant_name], BUNDLE)
    return model, model.score_candidates(BATCH, CANDIDATES)


@pytest.mark.parametrize("name", ["v1", "v2", "no_dynamic", "no_content", "no_attention", "static_only"])
def test_hybrid_variants_score_every_candidate_and_report_three_weights(name):
    _, out = scored(name)
    assert out.scores.shape == (12, 5) and out.scores.dtype == torch.float32
    assert out.alpha.shape == (12, 3)
    torch.testing.assert_close(out.alpha.sum(dim=1), torch.ones(12))


def test_no_attention_fuses_with_exactly_one_third_each():
    _, out = scored("no_attention")
    assert torch.equal(out.alpha, torch.full((12, 3), 1 / 3))


def test_static_only_reports_all_weight_on_static():
    _, out = scored("static_only")
    assert torch.equal(out.alpha, torch.tensor([[1.0, 0.0, 0.0]]).expand(12, -1))


def test_ablations_report_zero_weight_for_the_removed_component():
    _, no_dynamic = scored("no_dynamic")
    assert torch.equal(no_dynamic.alpha[:, 1], torch.zeros(12))
    assert bool((no_dynamic.alpha[:, [0, 2]] > 0).all())
    _, no_content = scored("no_content")
    assert torch.equal(no_content.alpha[:, 2], torch.zeros(12))


def test_v2_gate_starts_near_uniform_and_v1_does_not():
    """The variant's gate_init_std must reach the gate: v2 starts balanced, v1 from PyTorch's default init."""
    contexts = torch.rand(256, 5, generator=torch.Generator().manual_seed(1)) * 2 - 1
    v2, v1 = scored("v2")[0], scored("v1")[0]
    assert VARIANTS["v2"].gate_init_std == 0.01 and torch.equal(v2.gate.out.bias, torch.zeros(3))
    with torch.no_grad():
        assert float((v2.gate(contexts) - 1 / 3).abs().max()) < 0.03
        assert float((v1.gate(contexts) - 1 / 3).abs().max()) > 0.1  # measured 0.158 (v2: 0.023)


def test_ablations_build_only_their_components():
    model, _ = scored("no_dynamic")
    assert list(model.components) == ["static", "content"]
    assert model.gate.out.out_features == 2
    assert scored("no_attention")[0].gate is None


def test_gate_none_needs_a_single_component():
    with pytest.raises(ValueError, match="exactly one component"):
        HybridRecommender(dataclasses.replace(VARIANTS["v1"], gate="none"), 8, 32, BUNDLE.tfidf)


def test_gradients_reach_every_component_and_the_gate():
    model, out = scored("v1")
    out.scores.sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and float(parameter.grad.abs().sum()) > 0, name


def test_score_is_the_head_over_the_alpha_weighted_component_outputs():
    model, out = scored("v1")
    w, b = model.head.weight[0], model.head.bias
    fused = 0
    for k, (name, component) in enumerate(model.components.items()):
        item = component.item_side(CANDIDATES.flatten()).view(12, 5, -1)
        fused = fused + out.alpha[:, k, None, None] * component.combine(component.row_side(BATCH), item)
    torch.testing.assert_close(out.scores, fused @ w + b)


def test_eval_mode_scores_from_the_catalogue_cache_match_and_follow_loaded_weights():
    model, out = scored("v1")
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.score_candidates(BATCH, CANDIDATES).scores, out.scores)
        torch.manual_seed(1)
        other = build_model(VARIANTS["v1"], BUNDLE)
        model.load_state_dict(other.state_dict())  # must invalidate the cached item sides
        torch.testing.assert_close(
            model.score_candidates(BATCH, CANDIDATES).scores, other.score_candidates(BATCH, CANDIDATES).scores
        )


def test_v2_auxiliary_loss_is_the_weighted_regularisers_and_v1_has_none():
    alpha = torch.tensor([[0.5, 0.25, 0.25], [0.7, 0.2, 0.1]])
    v2, _ = scored("v2")
    terms = v2.auxiliary_loss(alpha)
    assert set(terms) == {"entropy", "balance"}
    assert torch.equal(terms["entropy"], 0.05 * mean_negative_entropy(alpha))
    assert torch.equal(terms["balance"], 0.01 * load_balance(alpha))
    assert scored("v1")[0].auxiliary_loss(alpha) == {}


def test_the_model_owns_its_whole_loss_ranking_plus_its_regularisers():
    v2, out = scored("v2")
    loss = v2.calculate_loss(BATCH, CANDIDATES, "bpr")
    ranking = bpr_loss(out.scores[:, 0], out.scores[:, 1:])
    assert torch.equal(loss.ranking, ranking) and torch.equal(loss.alpha, out.alpha)
    assert set(loss.regularizers) == {"entropy", "balance"}
    assert torch.equal(loss.total, ranking + (loss.regularizers["entropy"] + loss.regularizers["balance"]))
    torch.manual_seed(0)
    mf = build_model(VARIANTS["bpr_mf"], BUNDLE)
    plain = mf.calculate_loss(BATCH, CANDIDATES, "bce")
    scores = mf.score_candidates(BATCH, CANDIDATES).scores
    assert plain.regularizers == {} and plain.alpha is None
    assert torch.equal(plain.total, bce_loss(scores[:, 0], scores[:, 1:]))


def test_popularity_scores_are_training_counts():
    pop = build_model(VARIANTS["pop"], BUNDLE)
    assert isinstance(pop, Popularity) and not pop.trainable
    counts = BUNDLE.item_train_count.float()
    assert torch.equal(pop.score_candidates(BATCH, CANDIDATES).scores, counts[CANDIDATES])
    everything = pop.score_all_items(BATCH)
    assert torch.equal(everything.scores, counts.expand(12, -1)) and everything.alpha is None


def test_bpr_mf_scores_are_dot_products_plus_item_bias():
    mf = BPRMF(n_users=2, n_items=3, dim=2)
    with torch.no_grad():
        mf.user_emb.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, -1.0], [9.0, 9.0]]))  # last: unknown user
        mf.item_emb.weight.copy_(torch.tensor([[1.0, 0.0], [0.5, 0.5], [-1.0, 3.0]]))
        mf.item_bias.copy_(torch.tensor([0.0, 0.25, -1.0]))
    batch = dataclasses.replace(BATCH, user=torch.tensor([0, 1]))
    assert mf.score_all_items(batch).scores.tolist() == [[1.0, 1.75, 4.0], [0.0, -0.25, -4.0]]
    assert mf.score_candidates(batch, torch.tensor([[2, 0], [1, 1]])).scores.tolist() == [[4.0, 1.0], [-0.25, -0.25]]


def test_factory_builds_every_registered_variant():
    kinds = {name: type(build_model(variant, BUNDLE)) for name, variant in VARIANTS.items()}
    assert kinds["pop"] is Popularity and kinds["bpr_mf"] is BPRMF
    assert all(kinds[name] is HybridRecommender for name in VARIANTS if VARIANTS[name].model == "hybrid")
