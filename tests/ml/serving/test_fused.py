"""The service's one-table top-K gives the evaluation path's lists: by hand on a 6-item model, and
against `top_k` over `score_item_range` for every hybrid variant of the registry."""

import threading
from dataclasses import replace

import pytest
import torch

from hybridrec_ml.config import VARIANTS, ModelDims
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.models.hybrid import HybridRecommender
from hybridrec_ml.serving.fused import FusedCatalogue
from hybridrec_ml.serving.topk import top_k
from hybridrec_ml.tensors.bundle import SparseRows
from hybridrec_ml.tensors.batching import make_batch
from tests.ml.training.planted import planted_bundle

# d = 2. Head w = (1, -1), b = 0.5; the gate outputs 0 for every component, so alpha = 1/3 each.
# Row sides: static r_s = (0, -1), dynamic r_d = (1, 0), content p = (2, 1).
# item | static V_s, w.relu(r_s+V_s) | dynamic V_d, w.relu(r_d+V_d) | content C, w.(p*C) | sum S | score 0.5 + S/3
#   0  | (2, 0)   2                 | (0, 1)   0                   | (1, 1)  1          |  3
#   1  | (0, 3)  -2                 | (2, 0)   3                   | (2, 0)  4          |  5
#   2  | (-1, 0)  0                 | (-2, 0)  0                   | (0, 0)  0          |  0
#   3  | = item 0                                                                      |  3  (a tie: item 0 first)
#   4  | (4, 1)   4                 | (0, -1)  1                   | (0, 1) -1          |  4
#   5  | (1, 0)   1                 | (0, 0)   1                   | (3, 0)  6          |  8  (consumed)
STATIC = [[2, 0], [0, 3], [-1, 0], [2, 0], [4, 1], [1, 0]]
DYNAMIC = [[0, 1], [2, 0], [-2, 0], [0, 1], [0, -1], [0, 0]]
CONTENT = [[1, 1], [2, 0], [0, 0], [1, 1], [0, 1], [3, 0]]
QUERIES = {"static": [[0.0, -1.0]], "dynamic": [[1.0, 0.0]], "content": [[2.0, 1.0]]}


def hand_built() -> HybridRecommender:
    dims = ModelDims(embedding_dim=2, ncf_hidden=(2,), gru_hidden=2, gru_layers=1, content_hidden=(3,), gate_hidden=2)
    tfidf = SparseRows(torch.zeros(7, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), torch.zeros(0), 4)
    model = HybridRecommender(replace(VARIANTS["personalised_v1"], dims=dims), 1, 6, tfidf).eval()  # content p * C
    with torch.no_grad():
        for parameter in model.gate.parameters():
            parameter.zero_()
        model.head.weight.copy_(torch.tensor([[1.0, -1.0]]))
        model.head.bias.fill_(0.5)
    sides = {"static": STATIC, "dynamic": DYNAMIC, "content": CONTENT}
    model.restore_catalogue_item_sides({name: torch.tensor(rows, dtype=torch.float32) for name, rows in sides.items()})
    return model


@pytest.mark.parametrize("block", [1, 2, 4, 6, 2048])
def test_hand_built_lists_by_score_then_item_without_the_consumed_item(block):
    model = hand_built()
    queries = {name: torch.tensor(row) for name, row in QUERIES.items()}
    context = torch.zeros(1, 5)
    fused = FusedCatalogue(model, block)
    with torch.inference_mode():
        best = fused.top_k(queries, context, torch.tensor([5]), 4)
        everything = fused.top_k(queries, context, torch.tensor([5]), 6)
        reference = top_k(model, queries, context, (torch.tensor([0]), torch.tensor([5])), 6, 6, 6)
    assert best.items.tolist() == [[1, 4, 0, 3]]
    assert best.scores[0].tolist() == pytest.approx([0.5 + 5 / 3, 0.5 + 4 / 3, 1.5, 1.5], rel=1e-6)
    assert everything.items.tolist() == [[1, 4, 0, 3, 2, -1]]  # k beyond what is left: -1, as the evaluation path
    assert reference.items.tolist() == everything.items.tolist()
    torch.testing.assert_close(everything.scores, reference.scores, rtol=1e-6, atol=0)
    assert best.alpha.tolist() == [[pytest.approx(1 / 3)] * 3]


def test_a_nan_score_is_refused_not_ranked():
    model = hand_built()
    model.catalogue_item_sides()["content"][2, 0] = float("nan")
    fused = FusedCatalogue(model)
    with torch.inference_mode(), pytest.raises(ValueError, match="NaN scores"):
        fused.top_k({name: torch.tensor(row) for name, row in QUERIES.items()}, torch.zeros(1, 5), torch.tensor([5]), 2)


BUNDLE = planted_bundle(n_users=8, per_user=6)
ROWS = torch.tensor([0, 1, 8, 9, 16, 17, 24, 25, 26, 27, 28, 29])  # histories of length 0 to 3
# standardised component scores (score_norm) are not a sum of maxima: that variant takes the item-block path
HYBRIDS = [name for name, variant in VARIANTS.items() if variant.model == "hybrid" and not variant.normalise_scores]


def test_standardised_scores_have_no_fused_path():
    assert not FusedCatalogue.supports(build_model(VARIANTS["score_norm"], BUNDLE).eval())


def _model(variant) -> HybridRecommender:
    torch.manual_seed(0)
    return build_model(variant, BUNDLE).eval()


@pytest.mark.parametrize("name", HYBRIDS)
def test_every_registry_hybrid_gets_the_lists_of_the_item_block_path(name):
    model = _model(VARIANTS[name])
    assert FusedCatalogue.supports(model)
    fused = FusedCatalogue(model, block=7)  # blocks that do not divide the 32 items
    batch = make_batch(BUNDLE.train, ROWS, 50)
    with torch.inference_mode():
        queries = model.encode_queries(batch)
        for row in range(len(ROWS)):
            one = {key: value[row : row + 1] for key, value in queries.items()}
            context = batch.context[row : row + 1]
            consumed = batch.history[row, : batch.history_len[row]] - 1
            got = fused.top_k(one, context, consumed, 10)
            expected = top_k(model, one, context, (torch.zeros_like(consumed), consumed), 10, BUNDLE.n_items, 8)
            assert got.items.tolist() == expected.items.tolist(), (name, row)
            torch.testing.assert_close(got.scores, expected.scores, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(got.alpha, expected.alpha)


def test_models_without_the_fused_form_are_not_taken():
    deeper = replace(VARIANTS["v1"], dims=replace(VARIANTS["v1"].dims, ncf_hidden=(64, 64)))
    for variant in (deeper, VARIANTS["hybrid_plus"], VARIANTS["bpr_mf"], VARIANTS["pop"]):
        assert not FusedCatalogue.supports(_model(variant)), variant.name
    assert not FusedCatalogue.supports(_model(VARIANTS["v1"]).train())


def test_concurrent_requests_each_get_their_own_answer():
    model = _model(VARIANTS["v1"])
    fused = FusedCatalogue(model, block=5)
    batch = make_batch(BUNDLE.train, ROWS, 50)
    with torch.inference_mode():
        queries = model.encode_queries(batch)

    def answer(row: int) -> list[int]:
        with torch.inference_mode():
            one = {key: value[row : row + 1] for key, value in queries.items()}
            return fused.top_k(one, batch.context[row : row + 1], torch.tensor([], dtype=torch.int64), 5).items[0].tolist()

    expected = [answer(row) for row in range(len(ROWS))]
    seen: dict[tuple[int, int], list[int]] = {}

    def worker(thread: int) -> None:
        for repeat in range(20):
            for row in range(len(ROWS)):
                seen[thread, repeat * len(ROWS) + row] = answer(row)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(items == expected[index % len(ROWS)] for (_, index), items in seen.items())
    assert len(seen) == 3 * 20 * len(ROWS)
