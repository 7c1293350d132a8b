import torch
from torch import nn

from hybridrec_ml.config import ModelDims
from hybridrec_ml.models.component import Component
from hybridrec_ml.models.content import ContentMLP
from hybridrec_ml.models.dynamic import DynamicGRU
from hybridrec_ml.models.gate import ContextGate
from hybridrec_ml.models.static import StaticNCF
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.bundle import SparseRows

DIMS = ModelDims()
# items 0..3 over a 3-term vocabulary; item 1 has no terms
TFIDF = SparseRows(
    torch.tensor([0, 2, 2, 3, 5]), torch.tensor([0, 2, 1, 0, 1]), torch.tensor([0.5, 0.5, 1.0, 0.25, 0.75]), 3
)
BATCH = Batch(
    user=torch.tensor([0, 1, 2]),
    context=torch.rand(3, 5, generator=torch.Generator().manual_seed(0)),
    history=torch.tensor([[1, 3, 4], [0, 0, 0], [2, 0, 0]]),  # row 1 has an empty history
    history_len=torch.tensor([3, 0, 1]),
)
CANDIDATES = torch.tensor([[0, 1], [2, 3], [3, 0]])


def test_static_split_first_layer_equals_the_mlp_over_the_concatenation():
    torch.manual_seed(0)
    ncf = StaticNCF(3, 4, DIMS)
    h = ncf.combine(ncf.row_side(BATCH), ncf.item_side(CANDIDATES.flatten()).view(3, 2, -1))
    assert h.shape == (3, 2, 64)

    concat = nn.Linear(128, 64)  # the textbook MLP[128 -> 64] with the same weights
    with torch.no_grad():
        concat.weight.copy_(torch.cat([ncf.user_in.weight, ncf.item_in.weight], dim=1))
        concat.bias.copy_(ncf.user_in.bias)
    pairs = torch.cat([ncf.user_emb(BATCH.user).unsqueeze(1).expand(-1, 2, -1), ncf.item_emb(CANDIDATES)], dim=-1)
    torch.testing.assert_close(h, torch.relu(concat(pairs)))


def test_dynamic_state_is_zero_for_an_empty_history_and_ignores_padding():
    torch.manual_seed(0)
    gru = DynamicGRU(4, DIMS)
    state = gru.encode(BATCH.history, BATCH.history_len)
    assert state.shape == (3, 128)
    assert torch.equal(state[1], torch.zeros(128))
    alone = gru.encode(torch.tensor([[2]]), torch.tensor([1]))  # row 2 without the padding columns
    torch.testing.assert_close(state[2:3], alone)
    _, direct = gru.gru(gru.item_emb(torch.tensor([[1, 3, 4]])))  # row 0 unpacked: no padding to skip
    torch.testing.assert_close(state[0:1], direct[-1])


def test_dynamic_stepwise_gru_matches_nn_gru_on_a_packed_batch_values_and_gradients():
    torch.manual_seed(0)
    gru = DynamicGRU(6, DIMS)
    history = torch.tensor([[1, 3, 0, 0], [2, 4, 6, 5], [6, 0, 0, 0], [5, 1, 2, 0]])
    lengths = torch.tensor([2, 4, 1, 3])
    results = []
    for run in (gru.final_state_packed, gru.final_state_stepwise):
        gru.zero_grad()
        state = run(history, lengths)
        (state * torch.linspace(-1, 1, 128)).sum().backward()
        results.append((state.detach(), [p.grad.clone() for p in gru.parameters() if p.grad is not None]))
    (packed, packed_grads), (stepwise, stepwise_grads) = results
    torch.testing.assert_close(stepwise, packed)
    assert len(stepwise_grads) == len(packed_grads) == 1 + 8  # item embedding + 2 layers x 4 GRU tensors
    for a, b in zip(stepwise_grads, packed_grads):
        torch.testing.assert_close(a, b)


def test_dynamic_split_first_layer_equals_the_linear_over_state_and_candidate():
    torch.manual_seed(0)
    gru = DynamicGRU(4, DIMS)
    h = gru.combine(gru.row_side(BATCH), gru.item_side(CANDIDATES.flatten()).view(3, 2, -1))
    concat = nn.Linear(128 + 64, 64)
    with torch.no_grad():
        concat.weight.copy_(torch.cat([gru.state_in.weight, gru.item_in.weight], dim=1))
        concat.bias.copy_(gru.state_in.bias)
    state = gru.encode(BATCH.history, BATCH.history_len).unsqueeze(1).expand(-1, 2, -1)
    candidate = gru.item_emb(CANDIDATES + 1)
    torch.testing.assert_close(h, torch.relu(concat(torch.cat([state, candidate], dim=-1))))


def test_content_bag_equals_a_dense_linear_over_the_tfidf_rows():
    torch.manual_seed(0)
    content = ContentMLP(3, TFIDF, DIMS)
    dense = torch.tensor([[0.5, 0.0, 0.5], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.25, 0.75, 0.0]])
    expected = content.mlp(dense @ content.terms.weight + content.terms_bias)
    items = torch.tensor([3, 1, 0, 2, 3])  # unordered, repeated, and an item without terms
    torch.testing.assert_close(content.item_side(items), expected[items])


def test_content_score_is_the_user_taste_times_the_item_vector():
    torch.manual_seed(0)
    content = ContentMLP(3, TFIDF, DIMS)
    h = content.combine(content.row_side(BATCH), content.item_side(CANDIDATES.flatten()).view(3, 2, -1))
    torch.testing.assert_close(h[2, 0], content.user_emb.weight[2] * content.item_side(torch.tensor([3]))[0])


def test_study_content_is_the_item_vector_alone_the_same_for_every_user():
    torch.manual_seed(0)
    content = ContentMLP(3, TFIDF, DIMS, personalised=False)
    assert content.user_emb is None and content.row_side(BATCH).shape == (BATCH.user.shape[0], 0)
    items = content.item_side(CANDIDATES.flatten()).view(3, 2, -1)
    assert torch.equal(content.combine(content.row_side(BATCH), items), items)
    assert not any(name.startswith("user_emb") for name in content.state_dict())


def test_gate_outputs_a_distribution_and_honours_the_output_init_std():
    torch.manual_seed(0)
    gate = ContextGate(5, 64, 3, out_init_std=0.01)
    assert torch.equal(gate.out.bias, torch.zeros(3))
    assert 0.007 < float(gate.out.weight.detach().std()) < 0.013  # 192 draws of N(0, 0.01^2)
    with torch.no_grad():
        alpha = gate(BATCH.context)
    assert alpha.shape == (3, 3)
    torch.testing.assert_close(alpha.sum(dim=1), torch.ones(3))
    assert float((alpha - 1 / 3).abs().max()) < 0.02  # small init: near-uniform at the start


def test_every_component_meets_the_contract_and_a_module_without_combine_does_not():
    torch.manual_seed(0)
    for component in (StaticNCF(3, 4, DIMS), DynamicGRU(4, DIMS), ContentMLP(3, TFIDF, DIMS)):
        assert isinstance(component, Component) and component.out_dim == DIMS.embedding_dim

    class RowAndItemOnly(nn.Module):
        out_dim = 64

        def row_side(self, batch: Batch) -> torch.Tensor:
            return batch.context

        def item_side(self, items: torch.Tensor) -> torch.Tensor:
            return items.float()

    assert not isinstance(RowAndItemOnly(), Component)
