"""Where each asset's files live under the artifacts root: one home, so a reader finds what a writer wrote.

Each function returns the path's parts relative to `ArtifactStore.root`; `store.path(*parts)` resolves them.
"""

from __future__ import annotations


def _run_folder(kind: str, variant: str, seed: int) -> tuple[str, ...]:
    return (kind, variant, f"seed-{seed}")


def model_path(variant: str, seed: int) -> tuple[str, ...]:
    """trained_model's best-epoch weights."""
    return (*_run_folder("models", variant, seed), "model.pt")


def summary_path(variant: str, seed: int) -> tuple[str, ...]:
    """trained_model's summary: MLflow run id, best-epoch numbers, α per epoch, the epoch history."""
    return (*_run_folder("models", variant, seed), "summary.json")


def resume_path(variant: str, seed: int) -> tuple[str, ...]:
    """The folder a killed training run resumes from; removed once the run finishes."""
    return (*_run_folder("checkpoints", variant, seed), "resume")


def evaluation_path(variant: str, seed: int) -> tuple[str, ...]:
    """evaluation's per-row results and segments."""
    return (*_run_folder("evaluation", variant, seed), "evaluation.npz")


def ceilings_path(seed: int) -> tuple[str, ...]:
    """The oracle's evaluation (first seed only): what each kind of knowledge of the synthetic world is worth."""
    return (*_run_folder("evaluation", "oracle", seed), "ceilings.json")


def diagnosis_path(variant: str, seed: int) -> tuple[str, ...]:
    """gate_diagnosis's contributions, user-level interval and per-epoch gate dynamics."""
    return (*_run_folder("diagnosis", variant, seed), "diagnosis.json")


def collapse_report_path() -> tuple[str, ...]:
    """collapse_report's HTML file ("Why does the gate collapse?")."""
    return ("reports", "collapse.html")


def report_path() -> tuple[str, ...]:
    """results_report's single HTML file."""
    return ("reports", "results.html")


def recbole_folder(dataset_name: str) -> tuple[str, ...]:
    """recbole_export's atomic files; RecBole's `data_path` is this folder's parent."""
    return ("recbole", dataset_name)


def optuna_storage_path() -> tuple[str, ...]:
    """lambda_pareto's Optuna sqlite storage (every study; open it with `optuna-dashboard sqlite:///...`)."""
    return ("tuning", "optuna.db")


def study_models_folder(study_name: str) -> tuple[str, ...]:
    """The best-epoch weights of a study's trials still on its Pareto front (dominated ones are deleted)."""
    return ("tuning", study_name, "models")


def pareto_outcome_path() -> tuple[str, ...]:
    """lambda_pareto's latest outcome: every trial, the front and its test numbers (read by results_report)."""
    return ("tuning", "lambda_pareto.json")
