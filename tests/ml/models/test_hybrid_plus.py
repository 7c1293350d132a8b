"""hybrid_plus: a context-gated mixture of per-component softmaxes over dot-product logits."""

import torch

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.tensors.batching import make_batch
from hybridrec_ml.models.factory import build_model
from tests.ml.training.planted import planted_bundle

BUNDLE = planted_bundle(n_users=8, per_user=6)
BATCH = make_batch(BUNDLE.train, torch.tensor([0, 1, 8, 9, 16, 17, 24, 25]), 50)


def model():
    torch.manual_seed(0)
    built = build_model(VARIANTS["hybrid_plus"], BUNDLE)
    with torch.no_grad():
        built.item_bias.normal_()  # zero at init: make the test see the bias
    return built


def test_eval_scores_are_log_probabilities_of_the_alpha_mixture_of_component_softmaxes():
    plus = model().eval()
    with torch.no_grad():
        out = plus.score_all_items(BATCH)
        logits = plus.component_logits(BATCH, torch.arange(BUNDLE.n_items))  # [3, B, n_items]
        alpha = plus.gate(BATCH.context)
    expected = (alpha.T.unsqueeze(2) * torch.softmax(logits, dim=2)).sum(dim=0).log()
    torch.testing.assert_close(out.scores, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.scores.exp().sum(dim=1), torch.ones(8))
    torch.testing.assert_close(out.alpha, alpha)
    # the term alpha_k weights in P is softmax_k: its spread over the catalogue feeds the effective share
    torch.testing.assert_close(out.component_spread, torch.softmax(logits, dim=2).std(dim=2, unbiased=False).T)
    candidates = torch.tensor([[3, 1, 7]]).expand(8, -1)
    torch.testing.assert_close(plus.score_candidates(BATCH, candidates).scores, out.scores.gather(1, candidates))


def test_component_logits_are_dot_products_plus_the_item_bias():
    plus = model().eval()
    items = torch.tensor([2, 5])
    with torch.no_grad():
        logits = plus.component_logits(BATCH, items)
        static = plus.components["static"]
        expected = static.user_emb(BATCH.user) @ static.item_emb(items).T + plus.item_bias[0, items]
    torch.testing.assert_close(logits[0], expected)


def test_in_training_each_softmax_is_normalised_over_the_rows_candidates():
    plus = model().train()
    candidates = torch.tensor([[0, 4, 9, 30]]).expand(8, -1)
    scores = plus.score_candidates(BATCH, candidates).scores
    torch.testing.assert_close(scores.exp().sum(dim=1), torch.ones(8))
    scores[:, 0].sum().backward()
    assert all(p.grad is not None for name, p in plus.named_parameters() if not name.startswith("components.content.terms"))
