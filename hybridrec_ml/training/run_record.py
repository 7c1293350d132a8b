"""What one training run records: its MLflow params and metrics, its model and summary files, and its resume folder."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybridrec_ml.atomic import atomic_write_text
from hybridrec_ml.config import ALL_COMPONENTS, ALPHA_COLUMNS, GATE_DIAGNOSTIC_COLUMNS, VariantConfig
from hybridrec_ml.data.synthetic.truth import PlantedTruth
from hybridrec_ml.tensors.bundle import TrainingBundle
from hybridrec_ml.models.base import Recommender
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.training.checkpoint import load_checkpoint
from hybridrec_ml.training.trainer import EpochStats, TrainResult

# Metrics logged once per epoch, as curves over the epoch step.
EPOCH_CURVES = {"loss", "val_ndcg_at_10", "samples_per_s", *ALPHA_COLUMNS, "max_alpha_mean", *GATE_DIAGNOSTIC_COLUMNS}


def run_params(variant: VariantConfig, n_users: int, n_items: int) -> dict[str, object]:
    """The variant's settings and the data's size: enough to tell two runs apart in MLflow."""
    return {
        "variant": variant.name, "description": variant.description, **dataclasses.asdict(variant.train),
        "components": ",".join(variant.components), "gate": variant.gate, "entropy_lambda": variant.entropy_lambda,
        "balance_lambda": variant.balance_lambda, "gate_init_std": variant.gate_init_std,
        "architecture": variant.architecture, "context_granularity": variant.context_granularity,
        "gate_top_k": variant.gate_top_k, "gate_history_features": variant.gate_history_features,
        "z_loss_lambda": variant.z_loss_lambda, "balance_bias_rate": variant.balance_bias_rate,
        "normalise_scores": variant.normalise_scores, "curriculum_epochs": variant.curriculum_epochs,
        "n_users": n_users, "n_items": n_items,
    }  # fmt: skip


def epoch_metrics(stats: EpochStats) -> dict[str, float]:
    """One point of each curve in EPOCH_CURVES (α only with a gate), plus the weighted regularizer terms and
    the model's diagnostics (score scales, gate entropy, gate-logit gradient norm)."""
    metrics = {"loss": stats.loss, "val_ndcg_at_10": stats.val_ndcg_at_10, "samples_per_s": stats.samples_per_s}
    if stats.alpha_mean is not None:
        metrics |= dict(zip(ALPHA_COLUMNS, stats.alpha_mean))
        metrics["max_alpha_mean"] = stats.max_alpha_mean
    return metrics | {f"reg_{name}": value for name, value in stats.regularizers.items()} | stats.diagnostics


def summary_metrics(summary: dict[str, float | int | str]) -> dict[str, float | int]:
    """The summary's numbers as MLflow metrics: names shared with an epoch curve get a `summary_` prefix, so the
    summary (best epoch, mean samples/s) does not add a point at step 0 to that curve. Text (the profile) is
    already a run parameter."""
    return {
        f"summary_{name}" if name in EPOCH_CURVES else name: value
        for name, value in summary.items()
        if not isinstance(value, str)
    }


def model_record(result: TrainResult, variant: str, seed: int, bundle: TrainingBundle, mlflow_run_id: str) -> dict[str, Any]:
    """The model file: best-epoch weights, what they were trained as and on, when, and in which MLflow run
    (so a server reading only this file can say which model it serves)."""
    return {
        "model": result.model.state_dict(), "variant": variant, "seed": seed, "n_users": bundle.n_users,
        "n_items": bundle.n_items, "trained_at": datetime.now(UTC).isoformat(timespec="seconds"), "mlflow_run_id": mlflow_run_id,
    }  # fmt: skip


def load_trained_model(
    variant: VariantConfig, bundle: TrainingBundle, path: Path, truth: PlantedTruth | None = None
) -> Recommender:
    """The variant's model with the weights of a model file written from `model_record` (`truth`: the oracle's)."""
    model = build_model(variant, bundle, truth)
    model.load_state_dict(load_checkpoint(path)["model"])
    return model


def summary_record(result: TrainResult, mlflow_run_id: str, variant: VariantConfig) -> dict[str, Any]:
    """The summary file evaluation reads: the run to add test metrics to, α per epoch for its figures, and
    the training settings and device, so the test rows see the history path the model was trained on."""
    return {
        "mlflow_run_id": mlflow_run_id,
        "train_config": dataclasses.asdict(variant.train),
        "device": result.device,
        "summary": result.summary_metadata(),
        "alpha_per_epoch": [s.alpha_mean for s in result.history if s.alpha_mean is not None],
        "history": [dataclasses.asdict(s) for s in result.history],
    }


def best_epoch_alpha(result: TrainResult, has_learned_gate: bool) -> tuple[float, ...] | None:
    """Mean α at the best epoch, what the collapse check judges; None without a learned gate or an epoch."""
    if not has_learned_gate or not result.best_epoch:
        return None
    return result.history[result.best_epoch - 1].alpha_mean


def best_epoch_effective_share(result: TrainResult, has_learned_gate: bool) -> tuple[float, ...] | None:
    """α_k × the component's score scale (std of w·h_k) at the best epoch, as shares over the components
    present: what α alone hides (issue 14). None without a learned gate, an epoch or the scales."""
    alpha = best_epoch_alpha(result, has_learned_gate)
    if alpha is None:
        return None
    diagnostics = result.history[result.best_epoch - 1].diagnostics
    effective = [a * diagnostics.get(f"score_scale_{c}", 0.0) for c, a in zip(ALL_COMPONENTS, alpha)]
    total = sum(effective)
    return tuple(e / total for e in effective) if total > 0 else None


_TRACKED_RUN_FILE = "mlflow_run_id"


def swap_tracked_run(resume_dir: Path, run_id: str) -> str | None:
    """The MLflow run of the attempt that used `resume_dir` before (None if none); `run_id` is now its run.

    An attempt killed with -9 leaves its MLflow run RUNNING; the next attempt finds it here to close it.
    """
    record = resume_dir / _TRACKED_RUN_FILE
    previous = record.read_text().strip() if record.exists() else None
    resume_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, run_id)
    return previous if previous != run_id else None


@contextmanager
def resume_folder(path: Path) -> Iterator[Path]:
    """A killed or failed run keeps the folder, so the next attempt resumes from its last epoch; a run
    that finishes removes it, so a rerun trains afresh on the current data."""
    yield path
    shutil.rmtree(path, ignore_errors=True)
