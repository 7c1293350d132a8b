"""What a training run logs and keeps, on hand-built epoch stats and results."""

import dataclasses
from datetime import datetime

import pytest
import torch

from hybridrec_ml.config import GATE_DIAGNOSTIC_COLUMNS, VARIANTS
from hybridrec_ml.training.run_record import (
    EPOCH_CURVES,
    best_epoch_alpha,
    best_epoch_effective_share,
    epoch_metrics,
    load_trained_model,
    model_record,
    resume_folder,
    run_params,
    summary_metrics,
    summary_record,
)
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.training.checkpoint import save_checkpoint
from hybridrec_ml.training.trainer import EpochStats, TrainResult
from tests.ml.training.planted import planted_bundle


def _stats(epoch, val, alpha, regularizers=None):
    return EpochStats(
        epoch=epoch, loss=0.5 / epoch, val_ndcg_at_10=val, alpha_mean=alpha,
        max_alpha_mean=max(alpha) if alpha else None, seconds=2.0, rows=200, samples_per_s=100.0 * epoch,
        regularizers=regularizers or {},
    )  # fmt: skip


GATED = [_stats(1, 0.25, (0.5, 0.25, 0.25), {"entropy": 0.125}), _stats(2, 0.5, (0.75, 0.125, 0.125), {"entropy": 0.0625})]


def _result(history, best_epoch, model=None):
    return TrainResult(
        model=model, history=history, best_epoch=best_epoch, best_val_ndcg_at_10=0.5, train_seconds=4.0,
        device="cpu", resumed_from_epoch=0, profile="research", max_epochs=100, stopped_early=True,
    )  # fmt: skip


def test_epoch_metrics_with_and_without_a_gate():
    assert epoch_metrics(GATED[1]) == {
        "loss": 0.25, "val_ndcg_at_10": 0.5, "samples_per_s": 200.0,
        "alpha_static": 0.75, "alpha_dynamic": 0.125, "alpha_content": 0.125, "max_alpha_mean": 0.75,
        "reg_entropy": 0.0625,
    }  # fmt: skip
    assert epoch_metrics(_stats(1, 0.25, None)) == {"loss": 0.5, "val_ndcg_at_10": 0.25, "samples_per_s": 100.0}
    assert set(epoch_metrics(GATED[0])) - {"reg_entropy"} == EPOCH_CURVES - set(GATE_DIAGNOSTIC_COLUMNS)  # none recorded


def test_summary_metrics_prefix_only_the_names_of_epoch_curves():
    summary = {
        "best_val_ndcg_at_10": 0.5, "best_epoch": 2, "samples_per_s": 150.0, "alpha_static": 0.75, "entropy_term": 0.0625,
        "profile": "demo",
    }  # fmt: skip
    assert summary_metrics(summary) == {  # the profile, text, is a run parameter instead
        "best_val_ndcg_at_10": 0.5, "best_epoch": 2, "summary_samples_per_s": 150.0, "summary_alpha_static": 0.75,
        "entropy_term": 0.0625,
    }  # fmt: skip


def test_summary_record_and_best_epoch_alpha():
    result = _result(GATED, best_epoch=2)
    record = summary_record(result, "run-1", VARIANTS["v1"].with_profile("research"))
    assert record["mlflow_run_id"] == "run-1"
    assert record["train_config"]["profile"] == "research" and record["train_config"]["patience"] == 5
    assert record["device"] == "cpu"
    assert {k: record["summary"][k] for k in ("profile", "max_epochs", "stopped_early")} == {
        "profile": "research", "max_epochs": 100, "stopped_early": 1,
    }
    assert record["alpha_per_epoch"] == [(0.5, 0.25, 0.25), (0.75, 0.125, 0.125)]
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    assert record["summary"]["best_epoch"] == 2 and record["summary"]["max_alpha_mean"] == 0.75
    assert best_epoch_alpha(result, has_learned_gate=True) == (0.75, 0.125, 0.125)
    assert best_epoch_alpha(result, has_learned_gate=False) is None
    assert best_epoch_alpha(_result([], best_epoch=0), has_learned_gate=True) is None


def test_diagnostics_become_epoch_metrics_and_the_effective_share_at_the_best_epoch():
    scales = {"score_scale_static": 1.0, "score_scale_dynamic": 2.0, "score_scale_content": 4.0, "gate_entropy": 0.5}
    stats = [GATED[0], dataclasses.replace(GATED[1], diagnostics=scales)]
    assert epoch_metrics(stats[1]) == epoch_metrics(GATED[1]) | scales
    assert _result(stats, best_epoch=2).summary_metadata()["gate_entropy"] == 0.5
    assert summary_metrics({"gate_entropy": 0.5}) == {"summary_gate_entropy": 0.5}  # not a point on the epoch curve
    # α (0.75, 0.125, 0.125) x scales (1, 2, 4) = (0.75, 0.25, 0.5) -> shares (0.5, 1/6, 1/3)
    assert best_epoch_effective_share(_result(stats, best_epoch=2), has_learned_gate=True) == (0.5, 0.25 / 1.5, 0.5 / 1.5)
    assert best_epoch_effective_share(_result(stats, best_epoch=2), has_learned_gate=False) is None
    assert best_epoch_effective_share(_result(stats, best_epoch=1), has_learned_gate=True) is None  # no scales logged


def test_run_params_name_the_variant_and_the_data_size():
    params = run_params(VARIANTS["v1"], n_users=30, n_items=40)
    assert {k: params[k] for k in ("variant", "components", "gate", "n_users", "n_items", "epochs", "seed")} == {
        "variant": "v1", "components": "static,dynamic,content", "gate": "learned", "n_users": 30, "n_items": 40,
        "epochs": VARIANTS["v1"].train.epochs, "seed": 42,
    }  # fmt: skip
    assert (params["architecture"], params["context_granularity"]) == ("study", "second")
    assert run_params(VARIANTS["personalised_day_v2"], 30, 40)["architecture"] == "personalised"


def test_resume_folder_is_removed_after_a_finished_run_and_kept_after_a_failed_one(tmp_path):
    with resume_folder(tmp_path / "done") as folder:
        (folder / "last.pt").parent.mkdir()
        (folder / "last.pt").write_bytes(b"x")
    assert not (tmp_path / "done").exists()

    with pytest.raises(RuntimeError), resume_folder(tmp_path / "failed") as folder:
        folder.mkdir()
        (folder / "last.pt").write_bytes(b"x")
        raise RuntimeError("killed")
    assert (tmp_path / "failed" / "last.pt").read_bytes() == b"x"


def test_a_model_file_loads_back_into_the_same_weights(tmp_path):
    bundle = planted_bundle(n_users=6, per_user=5)
    variant = VARIANTS["bpr_mf"]
    torch.manual_seed(1)
    trained = build_model(variant, bundle)
    record = model_record(_result([], best_epoch=0, model=trained), "bpr_mf", 43, bundle, "run-1")
    assert {k: record[k] for k in ("variant", "seed", "n_users", "n_items", "mlflow_run_id")} == {
        "variant": "bpr_mf", "seed": 43, "n_users": bundle.n_users, "n_items": bundle.n_items, "mlflow_run_id": "run-1",
    }  # fmt: skip
    assert datetime.fromisoformat(record["trained_at"]).tzinfo is not None
    save_checkpoint(record, tmp_path / "model.pt")

    torch.manual_seed(2)  # a fresh initialisation differs: the weights must come from the file
    loaded = load_trained_model(variant, bundle, tmp_path / "model.pt")
    expected = trained.state_dict()
    assert list(loaded.state_dict()) == list(expected)
    assert all(torch.equal(loaded.state_dict()[name], expected[name]) for name in expected)
    assert not all(torch.equal(build_model(variant, bundle).state_dict()[n], expected[n]) for n in expected)
