import dataclasses
import itertools
import math

import pytest
import torch

from hybridrec_ml.config import GATE_DIAGNOSTIC_COLUMNS, VARIANTS, ModelDims
from hybridrec_ml.training.trainer import EpochStats, train
from tests.ml.training.planted import full_ranking_ndcg_at_10, planted_bundle, random_ndcg_at_10

BUNDLE = planted_bundle()  # 48 users, 32 items, 480 training rows


def validate(model) -> float:
    return full_ranking_ndcg_at_10(model, BUNDLE.val, BUNDLE.n_items)


def small(name: str, **train_overrides):
    """The variant with narrower layers and a short schedule, so a run takes well under a second."""
    dims = ModelDims(embedding_dim=16, ncf_hidden=(16,), gru_hidden=16, content_hidden=(32, 16), gate_hidden=8)
    settings = {"batch_size": 64, "epochs": 4, "patience": 4, "lr": 1e-2} | train_overrides
    return dataclasses.replace(VARIANTS[name], dims=dims).with_train(**settings)


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ["v1", "bpr_mf", "hybrid_plus", "neumf", "gru4rec", "sasrec"])
def test_training_on_planted_structure_beats_a_random_ranking(name):
    overrides = {"n_negatives": 16} if name == "hybrid_plus" else {}  # 32 items: a softmax over half of them
    result = train(small(name, **overrides), BUNDLE, validate=validate)
    assert result.best_val_ndcg_at_10 > random_ndcg_at_10(BUNDLE.n_items) + 0.15  # random: 0.142
    assert result.best_val_ndcg_at_10 == validate(result.model)  # the returned model holds the best weights


def test_the_same_seed_gives_bit_identical_runs_and_another_seed_does_not():
    first = train(small("v2"), BUNDLE, validate=validate)
    second = train(small("v2"), BUNDLE, validate=validate)
    assert same_weights(first.model.state_dict(), second.model.state_dict())
    assert [s.loss for s in first.history] == [s.loss for s in second.history]
    other = train(small("v2", seed=7), BUNDLE, validate=validate)
    assert not same_weights(first.model.state_dict(), other.model.state_dict())


@pytest.mark.parametrize("name", ["sasrec", "neumf"])
def test_dropout_is_seeded_by_the_run_whatever_the_process_drew_before_and_the_callers_rng_is_left_alone(name):
    variant = small(name, epochs=2, patience=2)
    variant = dataclasses.replace(variant, dims=dataclasses.replace(variant.dims, dropout=0.2))
    first = train(variant, BUNDLE, validate=validate)
    torch.rand(1000)  # another draw from the global RNG in between, as another partition would make
    state = torch.get_rng_state()
    second = train(variant, BUNDLE, validate=validate)
    assert torch.equal(torch.get_rng_state(), state)
    assert [s.loss for s in first.history] == [s.loss for s in second.history]
    assert same_weights(first.model.state_dict(), second.model.state_dict())


def test_initialise_replaces_the_built_weights_inside_the_seeded_run():
    def redraw(model):
        for parameter in model.parameters():
            torch.nn.init.normal_(parameter, std=0.05)  # draws from the run's seeded RNG
        return model

    plain = train(small("gru4rec", epochs=1, patience=1), BUNDLE, validate=validate)
    first, second = (
        train(small("gru4rec", epochs=1, patience=1), BUNDLE, validate=validate, initialise=redraw) for _ in range(2)
    )
    assert same_weights(first.model.state_dict(), second.model.state_dict())
    assert not same_weights(first.model.state_dict(), plain.model.state_dict())


def test_a_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path):
    variant = small("v2")
    uninterrupted = train(variant, BUNDLE, validate=validate)

    def killed_after_epoch_2(stats: EpochStats) -> None:
        if stats.epoch == 2:
            raise KeyboardInterrupt  # the checkpoint of epoch 2 is already on disk

    with pytest.raises(KeyboardInterrupt):
        train(variant, BUNDLE, validate=validate, checkpoint_dir=tmp_path, on_epoch=killed_after_epoch_2)
    seen: list[int] = []
    resumed = train(
        variant, BUNDLE, validate=validate, checkpoint_dir=tmp_path, on_epoch=lambda stats: seen.append(stats.epoch)
    )

    assert resumed.resumed_from_epoch == 2 and seen == [3, 4]
    assert same_weights(resumed.model.state_dict(), uninterrupted.model.state_dict())
    strip = lambda history: [(s.loss, s.val_ndcg_at_10, s.alpha_mean, s.regularizers) for s in history]  # noqa: E731
    assert strip(resumed.history) == strip(uninterrupted.history)


def test_a_checkpoint_of_another_variant_starts_fresh_with_a_warning_or_is_refused_on_require(tmp_path, caplog):
    """A kill -9 then a rerun with another config: auto starts over instead of blocking the partition."""
    train(small("v1", epochs=1), BUNDLE, validate=validate, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="belongs to another variant or dataset; resume=require cannot resume it"):
        train(small("v2", epochs=1), BUNDLE, validate=validate, checkpoint_dir=tmp_path, resume="require")

    with caplog.at_level("WARNING"):
        fresh = train(small("v2", epochs=1), BUNDLE, validate=validate, checkpoint_dir=tmp_path)

    assert fresh.resumed_from_epoch == 0 and [s.epoch for s in fresh.history] == [1]
    assert "belongs to another variant or dataset (changed since the run was killed): starting fresh" in caplog.text
    assert train(small("v2", epochs=2), BUNDLE, validate=validate, checkpoint_dir=tmp_path).resumed_from_epoch == 0
    # epochs=2 is another variant again; the checkpoint now is v2/epochs=2's, so this one resumes it:
    assert train(small("v2", epochs=2), BUNDLE, validate=validate, checkpoint_dir=tmp_path).resumed_from_epoch == 2


def test_resume_never_ignores_a_matching_checkpoint_and_require_needs_one(tmp_path):
    variant = small("v2", epochs=1)
    train(variant, BUNDLE, validate=validate, checkpoint_dir=tmp_path)
    assert train(variant, BUNDLE, validate=validate, checkpoint_dir=tmp_path, resume="never").resumed_from_epoch == 0
    with pytest.raises(ValueError, match="resume=require but there is no checkpoint to resume"):
        train(variant, BUNDLE, validate=validate, checkpoint_dir=tmp_path / "empty", resume="require")


def test_early_stopping_keeps_the_best_epoch_weights():
    snapshots: list[dict[str, torch.Tensor]] = []
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.9])

    def scripted_validate(model) -> float:
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scores)

    result = train(small("static_only", epochs=5, patience=2), BUNDLE, validate=scripted_validate)
    assert [s.epoch for s in result.history] == [1, 2, 3, 4]  # epochs 3 and 4 did not beat epoch 2
    assert (result.best_epoch, result.best_val_ndcg_at_10) == (2, 0.7)
    assert same_weights(result.model.state_dict(), snapshots[1])
    assert (result.stopped_early, result.max_epochs, result.profile) == (True, 5, "demo")


@pytest.mark.parametrize("sequence", ["chunks", "window"])
def test_a_run_still_improving_at_the_cap_says_so_and_keeps_the_last_epoch(sequence):
    snapshots: list[dict[str, torch.Tensor]] = []
    scores = iter([0.1, 0.3, 0.2, 0.4])

    def scripted_validate(model) -> float:
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scores)

    variant = small("v1", sequence=sequence).with_profile("research").with_train(epochs=4)
    result = train(variant, BUNDLE, validate=scripted_validate)
    assert (result.best_epoch, result.stopped_early, result.profile) == (4, False, "research")
    assert same_weights(result.model.state_dict(), snapshots[3])
    assert {k: result.summary_metadata()[k] for k in ("profile", "best_epoch", "max_epochs", "stopped_early")} == {
        "profile": "research", "best_epoch": 4, "max_epochs": 4, "stopped_early": 0,
    }


def test_profiles_set_the_epoch_budget_and_patience():
    research = VARIANTS["bpr_mf"].with_profile("research").train
    assert (research.profile, research.epochs, research.patience) == ("research", 100, 5)
    demo = VARIANTS["v1"].train
    assert (demo.profile, demo.epochs, demo.patience) == ("demo", 6, 2)
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        VARIANTS["v1"].with_profile("fast")


def test_epoch_stats_and_summary_carry_the_gate_and_the_regularisers():
    result = train(small("v2", epochs=2), BUNDLE, validate=validate)
    stats = result.history[-1]
    assert len(stats.alpha_mean) == 3 and sum(stats.alpha_mean) == pytest.approx(1.0, abs=1e-5)
    assert stats.max_alpha_mean == max(stats.alpha_mean)
    assert set(stats.regularizers) == {"entropy", "balance"}
    # v2's small gate init keeps alpha near uniform for two epochs, so the entropy term is close to its
    # minimum -0.05 log 3 (-0.0549) and the balance term close to 0; a wrong lambda, sign or init misses this
    assert -0.05 * math.log(3) <= stats.regularizers["entropy"] < -0.045
    assert 0 <= stats.regularizers["balance"] < 0.01 * 0.01
    assert stats.samples_per_s > 0
    summary = result.summary_metadata()
    assert set(summary) == {
        "best_val_ndcg_at_10", "best_epoch", "epochs", "train_seconds", "samples_per_s",
        "max_epochs", "stopped_early", "profile",
        "alpha_static", "alpha_dynamic", "alpha_content", "max_alpha_mean", "entropy_term", "balance_term",
        *GATE_DIAGNOSTIC_COLUMNS,  # the gate's dynamics at the best epoch (issue 14)
    }
    assert set(stats.diagnostics) == set(GATE_DIAGNOSTIC_COLUMNS) and all(v > 0 for v in stats.diagnostics.values())
    best = result.history[result.best_epoch - 1]
    assert (summary["epochs"], summary["alpha_dynamic"]) == (2, best.alpha_mean[1])


def test_static_only_reports_alpha_one_on_static():
    result = train(small("static_only", epochs=1), BUNDLE, validate=validate)
    assert result.history[0].alpha_mean == (1.0, 0.0, 0.0)
    assert result.history[0].regularizers == {}


@pytest.mark.parametrize("name", ["pop", "ease"])
def test_models_without_epochs_are_validated_once_and_not_trained(name):
    calls: list[float] = []

    def counting_validate(model) -> float:
        calls.append(validate(model))
        return calls[-1]

    result = train(VARIANTS[name], BUNDLE, validate=counting_validate)
    assert len(calls) == 1 and result.history == [] and result.best_epoch == 0
    assert result.best_val_ndcg_at_10 == calls[0]
    assert result.summary_metadata()["epochs"] == 0


def trained_to_the_last_epoch(variant):
    """The model after its last epoch (a rising validation score makes every epoch the best)."""
    epochs = itertools.count()
    return train(variant, BUNDLE, validate=lambda model: float(next(epochs))).model


def gate_entropy_and_imbalance(model) -> tuple[float, float]:
    """Mean H(alpha) over the training rows' contexts, and ||mean alpha - 1/3||^2."""
    with torch.no_grad():
        alpha = model.gate(BUNDLE.train.context)
    entropy = float(-torch.special.xlogy(alpha, alpha).sum(dim=1).mean())
    return entropy, float((alpha.mean(dim=0) - 1 / 3).square().sum())


def test_v2_regularisers_raise_gate_entropy_and_balance_on_a_fixed_problem():
    """v1 and v1 + v2's regularisers from the same seed and init: only the loss terms differ.

    Measured: entropy 0.942 vs 0.929, imbalance 0.0882 vs 0.0896; with the terms' sign flipped the
    gate collapses instead (entropy 0.23, imbalance 0.57).
    """
    v2 = VARIANTS["v2"]
    plain = small("v1")
    regularised = dataclasses.replace(plain, entropy_lambda=v2.entropy_lambda, balance_lambda=v2.balance_lambda)
    plain_entropy, plain_imbalance = gate_entropy_and_imbalance(trained_to_the_last_epoch(plain))
    entropy, imbalance = gate_entropy_and_imbalance(trained_to_the_last_epoch(regularised))
    assert entropy > plain_entropy + 0.005
    assert imbalance < plain_imbalance


def test_steps_per_epoch_caps_the_rows_an_epoch_sees_and_a_cap_above_the_epoch_changes_nothing():
    capped = train(small("v1", epochs=2, steps_per_epoch=3, sequence="window"), BUNDLE, validate=validate)
    assert [s.rows for s in capped.history] == [3 * 64, 3 * 64]
    full = train(small("v1", epochs=1, sequence="window"), BUNDLE, validate=validate)
    assert full.history[0].rows == 480
    # a cap of more steps than the epoch has is a full epoch: same order, same weights
    uncapped = train(small("v1", epochs=1, steps_per_epoch=100, sequence="window"), BUNDLE, validate=validate)
    assert uncapped.history[0].rows == 480
    assert same_weights(uncapped.model.state_dict(), full.model.state_dict())
