"""The sequence path (one GRU pass per chunk) against the per-row window where their semantics coincide."""

import dataclasses

import torch

from hybridrec_ml.config import VARIANTS, ModelDims
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.models.hybrid import GATE_HISTORY
from hybridrec_ml.tensors.batching import make_batch
from hybridrec_ml.tensors.sequences import SequenceLayout, batch_maker, sequence_batch
from tests.ml.models.sequence_paths import full_ranking_on_both_paths
from tests.ml.training.planted import planted_bundle

# 5 users x 10 steps, every history shorter than max_history = 12 = 2 chunks of 6
BUNDLE = planted_bundle(n_users=5, per_user=10, max_history=12)
DIMS = ModelDims(embedding_dim=8, ncf_hidden=(8,), gru_hidden=8, max_history=12, content_hidden=(16, 8), gate_hidden=4)
VARIANT = dataclasses.replace(VARIANTS["v1"], dims=DIMS).with_train(sequence_chunk=6)


def _model():
    torch.manual_seed(3)
    return build_model(VARIANT, BUNDLE)


def test_chunk_passes_and_per_row_windows_give_identical_scores_loss_and_gradients():
    rows = torch.randperm(len(BUNDLE.train), generator=torch.Generator().manual_seed(0))[:32]
    candidates = torch.cat([BUNDLE.train.item[rows].unsqueeze(1), torch.randint(0, BUNDLE.n_items, (32, 3))], dim=1)
    layout = SequenceLayout.build(BUNDLE, max_history=12, chunk_len=6)
    losses, grads = [], []
    for batch in (make_batch(BUNDLE.train, rows, 12), sequence_batch(layout, "train", BUNDLE.train, rows)):
        model = _model().train()
        loss = model.calculate_loss(batch, candidates, "bpr")
        loss.total.backward()
        losses.append(loss)
        grads.append({name: p.grad for name, p in model.named_parameters()})
    window, chunks = losses
    assert torch.equal(window.total, chunks.total) and torch.equal(window.alpha, chunks.alpha)
    assert all(torch.allclose(grads[0][name], grads[1][name], rtol=0, atol=1e-7) for name in grads[0])


def test_evaluation_on_either_path_ranks_identically():
    model = _model()
    results = full_ranking_on_both_paths(model, VARIANT, BUNDLE)
    assert results[0].ranks.tolist() == results[1].ranks.tolist()
    assert (results[0].alpha == results[1].alpha).all()


def test_the_enriched_gate_gets_identical_inputs_and_ranks_on_either_path():
    enriched = dataclasses.replace(VARIANTS["enriched_gate"], dims=DIMS, train=VARIANT.train)
    torch.manual_seed(3)
    model = build_model(enriched, BUNDLE).eval()
    rows = torch.arange(len(BUNDLE.test))
    inputs = [model.encode_queries(batch_maker(enriched.with_train(sequence=path), BUNDLE, "test")(rows))[GATE_HISTORY]
              for path in ("window", "chunks")]  # fmt: skip
    assert torch.equal(inputs[0], inputs[1]) and bool((inputs[0][:, 2] > 0).all())  # recency is there
    window, chunks = full_ranking_on_both_paths(model, enriched, BUNDLE)
    assert window.ranks.tolist() == chunks.ranks.tolist() and (window.alpha == chunks.alpha).all()


def test_the_packed_gru_used_on_cuda_gives_the_stepwise_outputs():
    """Checked on the CPU: packing, the empty chunk and the padding of the cuDNN path give the same numbers."""
    dynamic = _model().components["dynamic"]
    items = torch.tensor([[3, 1, 4, 1, 5], [9, 2, 6, 0, 0], [0, 0, 0, 0, 0]])
    lengths = torch.tensor([5, 3, 0])
    stepwise, packed = dynamic.outputs_stepwise(items, lengths), dynamic.outputs_packed(items, lengths)
    assert stepwise.shape == packed.shape == (3, 5, DIMS.gru_hidden)
    torch.testing.assert_close(packed[0], stepwise[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(packed[1, :3], stepwise[1, :3], rtol=0, atol=1e-6)  # past a row's length: unused
