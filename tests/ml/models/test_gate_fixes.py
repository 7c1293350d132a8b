"""Each anti-collapse mechanism and gate input on hand-built numbers, then wired into the hybrid by its variant."""

import dataclasses
import math

import duckdb
import pytest
import torch

from hybridrec_ml.config import MAIN_VARIANTS, VARIANTS, select_variants
from hybridrec_ml.data.transforms.context import _HOUR_FEATURES_SQL
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.models.gate import ContextGate
from hybridrec_ml.models.gate_fixes import balance_bias_step, keep_top_k, z_loss
from hybridrec_ml.models.gate_input import chunk_windows, floor_context_to_day, history_features, recency_feature
from hybridrec_ml.models.hybrid import GATE_HISTORY
from hybridrec_ml.models.losses import LOSSES
from hybridrec_ml.tensors.batch import SequenceChunks
from hybridrec_ml.tensors.batching import make_batch
from hybridrec_ml.tensors.sequences import batch_maker
from tests.ml.training.planted import planted_bundle, since_previous

BUNDLE = planted_bundle(n_users=8, per_user=6)
ROWS = torch.tensor([0, 1, 8, 9, 16, 17, 24, 25, 26, 27, 28, 29])
BATCH = make_batch(BUNDLE.train, ROWS, 50)
CANDIDATES = torch.randint(0, BUNDLE.n_items, (12, 2), generator=torch.Generator().manual_seed(0))


def test_top_k_keeps_the_k_largest_logits_and_zeroes_the_rest_after_softmax():
    logits = torch.tensor([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]])
    alpha = torch.softmax(keep_top_k(logits, 2), dim=-1)
    e = math.e
    expected = torch.tensor([[0.0, e / (e + 1), 1 / (e + 1)], [1 / (1 + e**5), 0.0, 1 / (1 + e**-5)]])
    torch.testing.assert_close(alpha, expected)
    assert torch.equal(keep_top_k(logits, 3), logits)


def test_noisy_top_k_gate_is_noisy_in_training_and_deterministic_in_eval():
    torch.manual_seed(0)
    gate = ContextGate(5, 8, 3, top_k=2)
    with torch.no_grad():
        gate.eval()
        first, second = gate(BATCH.context), gate(BATCH.context)
        gate.train()
        noisy = gate(BATCH.context)
    assert torch.equal(first, second)
    assert torch.equal((first == 0).sum(dim=1), torch.ones(12, dtype=torch.int64))  # exactly one component off per row
    assert torch.equal((noisy == 0).sum(dim=1), torch.ones(12, dtype=torch.int64))
    assert not torch.equal(noisy, first)


def test_z_loss_is_the_mean_squared_logsumexp():
    logits = torch.tensor([[0.0, 0.0, 0.0], [math.log(2.0), math.log(3.0), math.log(5.0)]])
    assert float(z_loss(logits)) == pytest.approx((math.log(3.0) ** 2 + math.log(10.0) ** 2) / 2)


def test_loss_free_balancing_lowers_the_overused_component_and_raises_the_others():
    alpha = torch.tensor([[0.9, 0.05, 0.05], [0.7, 0.2, 0.1]])  # mean (0.8, 0.125, 0.075)
    bias = balance_bias_step(torch.tensor([0.0, 0.5, -0.5]), alpha, rate=0.01)
    torch.testing.assert_close(bias, torch.tensor([-0.01, 0.51, -0.49]))
    balanced = balance_bias_step(torch.zeros(2), torch.tensor([[0.5, 0.5]]), rate=0.01)
    assert torch.equal(balanced, torch.zeros(2))  # sign(0) = 0: a balanced gate is left alone


def test_history_features_are_scaled_length_and_share_of_distinct_items():
    history = torch.tensor([[3, 3, 5, 0], [0, 0, 0, 0], [1, 2, 4, 7]])
    features = history_features(history, torch.tensor([3, 0, 4]), max_history=50)
    expected = torch.tensor([[math.log(4) / math.log(51), 2 / 3], [0.0, 0.0], [math.log(5) / math.log(51), 1.0]])
    torch.testing.assert_close(features, expected)


def test_recency_is_log_days_since_the_previous_interaction_on_a_one_year_scale():
    # no previous interaction, same second, one day, one year, one hour
    features = recency_feature(torch.tensor([-1, 0, 86_400, 365 * 86_400, 3_600]))
    scale = math.log(366)
    expected = torch.tensor([0.0, 0.0, math.log(2) / scale, 1.0, math.log1p(1 / 24) / scale])
    torch.testing.assert_close(features, expected)


def test_chunk_windows_are_the_items_each_rows_gru_state_has_read():
    items = torch.tensor([[4, 4, 6, 0], [2, 3, 0, 0]])  # two chunks of width 4 (item_idx + 1, 0 = padding)
    sequence = SequenceChunks(items, torch.tensor([3, 2]), state_at=torch.tensor([0, 2, -1, 5]))
    window, length = chunk_windows(sequence)
    # after item 0 of chunk 0; after item 2 of chunk 0; no history; after item 1 of chunk 1 (4 + 1)
    assert window.tolist() == [[4, 0, 0, 0], [4, 4, 6, 0], [0, 0, 0, 0], [2, 3, 0, 0]]
    assert length.tolist() == [1, 3, 0, 2]
    empty, none = chunk_windows(SequenceChunks(torch.zeros(1, 0, dtype=torch.int64), torch.tensor([0]), torch.tensor([-1, -1])))
    assert empty.shape == (2, 0) and none.tolist() == [0, 0]


def test_flooring_the_context_equals_the_features_of_second_zero_of_the_day():
    ((hour_sin, hour_cos),) = duckdb.sql(_HOUR_FEATURES_SQL).limit(1).fetchall()  # second 0 (hour 0)
    context = torch.tensor([[0.5, -0.5, 0.25, 0.75, 1.0], [-1.0, 0.0, -0.3, 0.2, 0.0]])
    floored = floor_context_to_day(context)
    assert torch.equal(floored[:, :2], torch.tensor([[hour_sin, hour_cos]]).expand(2, -1))
    assert torch.equal(floored[:, 2:], context[:, 2:])  # day of week unchanged
    assert torch.equal(context[0], torch.tensor([0.5, -0.5, 0.25, 0.75, 1.0]))  # the input is not modified


def _model(name: str):
    torch.manual_seed(0)
    return build_model(VARIANTS[name], BUNDLE)


def _logits(model, batch=BATCH):
    return model.gate_logits(model.encode_queries(batch), batch.context)


def test_day_variant_gate_ignores_the_hour_and_the_informative_one_does_not():
    noon = torch.tensor([[0.0, -1.0]]).expand(12, -1)
    shifted = dataclasses.replace(BATCH, context=torch.cat([noon, BATCH.context[:, 2:]], dim=1))
    for name, same in (("day_v1", True), ("v1", False), ("personalised_day_v2", True)):
        model = _model(name).eval()
        with torch.no_grad():
            a, b = model.score_candidates(BATCH, CANDIDATES).alpha, model.score_candidates(shifted, CANDIDATES).alpha
        assert torch.equal(a, b) is same, name


def test_z_loss_variant_adds_its_weighted_term_to_the_loss():
    model = _model("z_loss").train()
    loss = model.calculate_loss(BATCH, CANDIDATES, "bpr")
    torch.testing.assert_close(loss.regularizers["z_loss"], 0.01 * z_loss(_logits(model)))
    torch.testing.assert_close(loss.total, loss.ranking + loss.regularizers["z_loss"])
    assert "z_loss" not in _model("v1").train().calculate_loss(BATCH, CANDIDATES, "bpr").regularizers


def test_loss_free_balance_variant_moves_its_bias_each_training_step_only():
    model = _model("loss_free_balance").train()
    loss = model.calculate_loss(BATCH, CANDIDATES, "bpr")
    expected = balance_bias_step(torch.zeros(3), loss.alpha, 0.01)
    assert torch.equal(model.gate.balance_bias, expected) and bool(expected.abs().sum() > 0)
    assert "gate.balance_bias" in model.state_dict() and not any("balance_bias" in n for n, _ in model.named_parameters())
    with torch.no_grad():
        model.eval()
        scored = model.score_candidates(BATCH, CANDIDATES)
    assert torch.equal(model.gate.balance_bias, expected)
    torch.testing.assert_close(scored.alpha, torch.softmax(_logits(model) + expected, dim=-1))  # the bias shifts α


def test_score_norm_variant_standardises_each_component_score_in_training():
    model = _model("score_norm").train()
    normalised = model.component_scores(BATCH, CANDIDATES).scores.reshape(-1, 3)
    norm, model.score_norm = model.score_norm, None
    raw = model.component_scores(BATCH, CANDIDATES).scores.reshape(-1, 3)  # w . h_k as the other variants fuse it
    expected = (raw - raw.mean(dim=0)) / torch.sqrt(raw.var(dim=0, unbiased=False) + norm.eps)
    torch.testing.assert_close(normalised, expected)


def test_enriched_gate_sees_length_diversity_and_recency_of_each_rows_history_on_either_path():
    model = _model("enriched_gate")
    assert model.gate.hidden.in_features == 8 and model.queries_depend_on_time
    # train rows are time-major over 8 users: row r is step r // 8 of user r % 8, whose history holds its
    # `step` earlier items, all distinct (a walk within a group of 8), the last one since_previous(step, user) ago
    expected = []
    for row in ROWS.tolist():
        step, user = divmod(row, 8)
        gap_days = since_previous(step, user) / 86_400
        expected.append([math.log1p(step) / math.log(51), 1.0 if step else 0.0,
                         math.log1p(gap_days) / math.log(366) if step else 0.0])  # fmt: skip
    torch.testing.assert_close(model.encode_queries(BATCH)[GATE_HISTORY], torch.tensor(expected))
    # the chunk path (every history here is shorter than max_history) gives the same inputs
    chunked = dataclasses.replace(VARIANTS["enriched_gate"], train=VARIANTS["v1"].train)
    on_chunks = model.encode_queries(batch_maker(chunked, BUNDLE, "train")(ROWS))[GATE_HISTORY]
    torch.testing.assert_close(on_chunks, torch.tensor(expected))


def test_enriched_gate_refuses_rows_without_times_and_a_day_floored_context():
    with pytest.raises(ValueError, match="needs each row's time since the previous interaction"):
        _model("enriched_gate").encode_queries(dataclasses.replace(BATCH, since_previous=None))
    day = dataclasses.replace(VARIANTS["enriched_gate"], context_granularity="day")
    with pytest.raises(ValueError, match="recency would read the seconds the gate must not see"):
        build_model(day, BUNDLE)


def test_curriculum_trains_components_alone_then_the_gate():
    model = _model("curriculum").train()
    model.start_epoch(1)
    solo = model.calculate_loss(BATCH, CANDIDATES, "bpr")
    solo.total.backward()
    assert all(p.grad is None for p in model.gate.parameters())  # the gate gets nothing in the solo phase
    parts = model.component_scores(BATCH, CANDIDATES)
    s = parts.bias + parts.scores
    expected = sum(-torch.nn.functional.logsigmoid(s[:, 0, k] - s[:, 1, k]).mean() for k in range(3))
    torch.testing.assert_close(solo.ranking, expected)
    model.start_epoch(2)  # curriculum_epochs = 1: from epoch 2 the fused loss
    model.zero_grad()
    model.calculate_loss(BATCH, CANDIDATES, "bpr").total.backward()
    assert all(p.grad is not None for p in model.gate.parameters())


def test_diagnostics_average_score_scale_entropy_and_gate_gradient_over_batches():
    model = _model("v1").train()
    loss = model.calculate_loss(BATCH, CANDIDATES, "bpr")
    loss.total.backward()
    diagnostics = model.epoch_diagnostics()
    parts = model.component_scores(BATCH, CANDIDATES)
    for k, name in enumerate(("static", "dynamic", "content")):
        assert diagnostics[f"score_scale_{name}"] == pytest.approx(float(parts.scores[..., k].detach().std()), rel=1e-6)
    alpha = parts.alpha.detach()
    assert diagnostics["gate_entropy"] == pytest.approx(float(-(alpha * alpha.log()).sum(dim=1).mean()), rel=1e-6)
    fused = parts.fused()
    (grad,) = torch.autograd.grad(LOSSES["bpr"](fused[:, 0], fused[:, 1:]), parts.logits)
    assert diagnostics["gate_logit_grad_norm"] == pytest.approx(float(grad.norm()), rel=1e-5)
    assert model.epoch_diagnostics() == {}  # reset after reading
    fixed = _model("no_attention").train()
    fixed.calculate_loss(BATCH, CANDIDATES, "bpr").total.backward()
    assert set(fixed.epoch_diagnostics()) == {"score_scale_static", "score_scale_dynamic", "score_scale_content"}


def test_variant_groups_select_the_main_set_by_default_and_expand_names():
    assert select_variants("") == select_variants("main") == MAIN_VARIANTS
    assert len(MAIN_VARIANTS) == 14 and set(MAIN_VARIANTS) <= set(VARIANTS)
    assert len(select_variants("collapse")) == 16
    assert select_variants("v1,factors")[:3] == ("v1", "v2", "personalised_v1")
    with pytest.raises(ValueError, match="unknown variant 'nope'"):
        select_variants("nope")


def test_factor_variants_differ_from_v1_v2_only_in_their_factors():
    for name in select_variants("factors"):
        variant = VARIANTS[name]
        base = VARIANTS["v2" if name.endswith("v2") else "v1"]
        expected = dataclasses.replace(base, name=name, description=variant.description,
                                       architecture="personalised" if "personalised" in name else "study",
                                       context_granularity="day" if "day" in name else "second")  # fmt: skip
        assert variant == expected, name
