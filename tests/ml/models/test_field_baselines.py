"""NeuMF, GRU4Rec, SASRec and EASE^R: exact values on hand-built inputs, and the sequence path."""

import dataclasses
import math

import pytest
import torch

from hybridrec_ml.config import VARIANTS, ModelDims
from hybridrec_ml.models.baselines.ease import EASE
from hybridrec_ml.models.baselines.gru4rec import GRU4Rec
from hybridrec_ml.models.baselines.neumf import NeuMF
from hybridrec_ml.models.baselines.sasrec import SASRec, causal_mask
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.tensors.batch import Batch, SequenceChunks
from hybridrec_ml.tensors.batching import make_batch
from hybridrec_ml.tensors.bundle import SparseRows
from hybridrec_ml.tensors.sequences import SequenceLayout, sequence_batch
from tests.ml.models.sequence_paths import full_ranking_on_both_paths
from tests.ml.training.planted import planted_bundle


def _batch(users: list[int], history: list[list[int]] | None = None) -> Batch:
    """Rows of the given users; history as item_idx + 1, right-padded with 0."""
    history = history or [[] for _ in users]
    width = max(len(h) for h in history)
    padded = torch.tensor([h + [0] * (width - len(h)) for h in history], dtype=torch.int64).reshape(len(users), width)
    return Batch(torch.tensor(users), torch.zeros(len(users), 5), padded, torch.tensor([len(h) for h in history]))


def test_ease_closed_form_on_a_three_item_matrix():
    # X (users x items) = [[1,1,0],[0,1,1],[1,1,1]], lambda = 1: X^T X + I = [[3,2,1],[2,4,2],[1,2,3]],
    # its inverse P = [[1/2,-1/4,0],[-1/4,1/2,-1/4],[0,-1/4,1/2]], B_ij = -P_ij / P_jj off the diagonal.
    rows = SparseRows(torch.tensor([0, 2, 4, 7]), torch.tensor([0, 1, 1, 2, 0, 1, 2]), None, 3)
    model = EASE(rows, n_items=3, l2=1.0)
    assert model.weights.tolist() == [[0.0, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.0]]
    scores = model.score_all_items(_batch([0, 2, 3])).scores  # user 3 had no training interaction
    assert scores.tolist() == [[0.5, 0.5, 0.5], [0.5, 1.0, 0.5], [0.0, 0.0, 0.0]]
    assert model.score_candidates(_batch([2]), torch.tensor([[1, 0]])).scores.tolist() == [[1.0, 0.5]]
    assert model.score_item_range(model.encode_queries(_batch([2])), torch.zeros(1, 5), 1, 3).scores.tolist() == [[1.0, 0.5]]


def _hand_set_gru4rec() -> GRU4Rec:
    """1-d GRU with zero weights and the candidate-gate input bias ln 3: r = z = 1/2, n = tanh(ln 3) = 0.8,
    so h_t = 0.8 + (h_{t-1} - 0.8) / 2: 0.4 after one item, 0.6 after two; dense = identity."""
    model = GRU4Rec(n_items=3, dims=ModelDims(embedding_dim=1, gru_hidden=1, gru_layers=1))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.encoder.gru.bias_ih_l0.copy_(torch.tensor([0.0, 0.0, math.log(3.0)]))
        model.dense.weight.fill_(1.0)
        model.encoder.item_emb.weight.copy_(torch.tensor([[0.0], [1.0], [-1.0], [2.0]]))  # padding, items 0, 1, 2
    return model


def test_gru4rec_cross_entropy_on_a_hand_built_batch():
    model = _hand_set_gru4rec()
    batch = _batch([0, 1, 2], [[1, 2], [3], []])  # histories (item 0, item 1), (item 2), none
    positives = torch.tensor([[2], [1], [0]])
    states = [0.6, 0.4, 0.0]  # empty history: dense(zero state) = its bias, 0
    embeddings = [1.0, -1.0, 2.0]
    expected = sum(
        -s * embeddings[p] + math.log(sum(math.exp(s * e) for e in embeddings))
        for s, p in zip(states, positives[:, 0].tolist())
    ) / 3
    loss = model.calculate_loss(batch, positives, "cross_entropy")
    assert loss.total.item() == pytest.approx(expected, abs=1e-6)
    assert loss.ranking.item() == pytest.approx(expected, abs=1e-6)
    torch.testing.assert_close(model.score_all_items(batch).scores, torch.tensor(states).unsqueeze(1) * torch.tensor(embeddings))


def test_sasrec_position_t_never_sees_later_items():
    torch.manual_seed(0)
    model = SASRec(n_items=10, dims=ModelDims(embedding_dim=8, max_history=6)).eval()
    items = torch.tensor([[3, 1, 4, 1, 5, 9]])
    changed = items.clone()
    changed[0, 3] = 7  # position 3 only
    sequences = [SequenceChunks(x, torch.tensor([6]), torch.tensor([0])) for x in (items, changed)]
    before, after = (model.sequence_outputs(s)[0] for s in sequences)
    assert torch.equal(before[:3], after[:3])  # positions 0..2 do not see position 3
    assert not torch.allclose(before[3:], after[3:])  # 3 and later do
    assert causal_mask(3, torch.device("cpu")).tolist() == [[False, True, True], [False, False, True], [False, False, False]]


def test_neumf_split_first_layer_equals_the_layer_on_the_concatenation():
    torch.manual_seed(0)
    model = NeuMF(n_users=3, n_items=5, dims=ModelDims(embedding_dim=4, ncf_hidden=(6, 4))).eval()
    users, items = torch.tensor([0, 2]), torch.tensor([[1, 4], [0, 3]])
    p_u, q_i = model.mlp_user(users).unsqueeze(1).expand(-1, 2, -1), model.mlp_item(items)
    weight = torch.cat([model.first_user.weight, model.first_item.weight], dim=1)  # Linear(2d -> h0) on [p_u; q_i]
    mlp = model.tower(torch.relu(torch.cat([p_u, q_i], dim=-1) @ weight.T + model.first_user.bias))
    gmf = model.gmf_user(users).unsqueeze(1) * model.gmf_item(items)
    expected = model.output(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)
    batch = _batch([0, 2])
    torch.testing.assert_close(model.score_candidates(batch, items).scores, expected)
    ranged = model.score_item_range(model.encode_queries(batch), batch.context, 0, 5).scores
    torch.testing.assert_close(ranged.gather(1, items), expected)
    model.item_block = 2  # blocks 0-1, 2-3, 4
    torch.testing.assert_close(model.score_all_items(batch).scores, ranged)


def test_neumf_scores_each_distinct_user_of_a_catalogue_block_once(monkeypatch):
    torch.manual_seed(0)
    model = NeuMF(n_users=3, n_items=5, dims=ModelDims(embedding_dim=4, ncf_hidden=(6, 4))).eval()
    alone = {user: model.score_all_items(_batch([user])).scores[0] for user in (0, 2)}
    scored: list[list[int]] = []
    user_queries = model._user_queries
    monkeypatch.setattr(model, "_user_queries", lambda users: scored.append(users.tolist()) or user_queries(users))
    scores = model.score_all_items(_batch([2, 0, 2, 2])).scores
    assert scored == [[0, 2]]
    for row, user in enumerate([2, 0, 2, 2]):
        assert torch.equal(scores[row], alone[user])


BUNDLE = planted_bundle(n_users=5, per_user=10, max_history=12)
SMALL = ModelDims(embedding_dim=8, ncf_hidden=(8,), gru_hidden=8, max_history=12)


@pytest.mark.parametrize("name", ["gru4rec", "sasrec"])
def test_sequence_models_read_the_sequence_once_per_chunk_with_the_window_results(name):
    variant = dataclasses.replace(VARIANTS[name], dims=SMALL).with_train(sequence_chunk=6)
    assert variant.uses_sequence_chunks
    torch.manual_seed(3)
    model = build_model(variant, BUNDLE).eval()
    rows = torch.arange(len(BUNDLE.train))
    layout = SequenceLayout.build(BUNDLE, max_history=12, chunk_len=6)
    chunked = sequence_batch(layout, "train", BUNDLE.train, rows)
    assert chunked.sequence.items.shape[0] == 10  # 5 users x 2 chunks, not 40 row windows
    window = model.score_all_items(make_batch(BUNDLE.train, rows, 12)).scores
    torch.testing.assert_close(model.score_all_items(chunked).scores, window, rtol=0, atol=1e-5)
    results = full_ranking_on_both_paths(model, variant, BUNDLE)
    assert results[0].ranks.tolist() == results[1].ranks.tolist()


def test_the_new_baselines_are_registered_as_baselines():
    for name, model in (("neumf", NeuMF), ("gru4rec", GRU4Rec), ("sasrec", SASRec), ("ease", EASE)):
        assert VARIANTS[name].is_baseline
        assert type(build_model(VARIANTS[name], BUNDLE)) is model
    assert not any(VARIANTS[name].is_baseline for name in ("v1", "v2", "hybrid_plus", "oracle"))
