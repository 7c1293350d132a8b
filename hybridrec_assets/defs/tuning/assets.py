"""lambda_pareto: the (λ_ent, λ_bal, gate init std) Pareto frontier of v2, an Optuna study that re-runs continue.

Heavy libraries (torch, optuna, mlflow's run logging) are imported inside the functions, so loading
the code location does not pay for them.
"""

import functools
from enum import Enum
from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from hybridrec_assets.artifacts import optuna_storage_path, pareto_outcome_path, study_models_folder
from hybridrec_assets.defs.data.assets import context_features, eval_negatives, item_tfidf, user_sequences
from hybridrec_assets.executors import GPU_STEP_TAGS
from hybridrec_assets.metadata import rounded_metadata
from hybridrec_assets.profile import run_profile
from hybridrec_assets.resources import ArtifactStore, Tracker, Warehouse
from hybridrec_assets.torch_threads import default_torch_threads
from hybridrec_ml.config import VARIANTS, VariantConfig

if TYPE_CHECKING:
    from hybridrec_ml.training.trainer import TrainResult

BASE_VARIANT = "v2"  # the regularised hybrid whose regulariser weights the study varies


class Balance(Enum):
    entropy = "entropy"  # H(mean α) / log 3
    one_minus_max = "one_minus_max"  # 1 - max mean α


class ParetoConfig(Config):
    """The budget of one materialization; a re-run with the same training settings continues the same study."""

    n_trials: int = Field(default=12, description="Trials to add in this run (the first run also measures v1, v2 and the study's setting among them)")
    timeout_s: float | None = Field(default=1800.0, description="No trial starts after this many seconds (None: no limit)")
    n_jobs: int | None = Field(default=None, description="Trial processes at once (None: the cores this run gets, at most n_trials)")
    balance: Balance = Field(default=Balance.entropy, description="Second objective: entropy | one_minus_max of the mean α")
    profile: str | None = Field(default=None, description="demo | research; None: $HYBRIDREC_PROFILE, else demo")
    epochs: int | None = Field(default=None, description="Epoch cap per trial (None: the profile's)")
    seed: int = Field(default=42, description="Training seed of every trial (the settings differ, not the seed)")
    device: str | None = Field(default=None, description="auto | cpu | cuda")

    def base_variant(self) -> VariantConfig:
        overrides = {k: v for k, v in {"epochs": self.epochs, "device": self.device}.items() if v is not None}
        return VARIANTS[BASE_VARIANT].with_profile(run_profile(self.profile)).with_train(seed=self.seed, **overrides)

    def study_name(self, base: VariantConfig) -> str:
        """Trials of one study share data, budget and objective, so the name carries them: a changed budget starts a new study."""
        cfg = base.train
        return f"lambda_pareto-{base.name}-{self.balance.value}-{cfg.profile}-e{cfg.epochs}p{cfg.patience}-seed{cfg.seed}"


def log_trial_run(
    tracker_settings: dict, parent_run_id: str, tags: dict[str, str], data_size: tuple[int, int],
    number: int, variant: VariantConfig, result: "TrainResult", objectives: tuple[float, float],
) -> str:  # fmt: skip
    """One trial as an MLflow child run of the study's run: params, per-epoch curves, summary, objectives."""
    from hybridrec_ml.training.run_record import epoch_metrics, run_params, summary_metrics
    from hybridrec_ml.tuning.study import OBJECTIVES, trial_name

    tracker = Tracker(**tracker_settings)  # rebuilt from plain settings: trials may run in spawned processes
    child_tags = tags | {"mlflow.parentRunId": parent_run_id, "trial": str(number)}
    with tracker.run(run_name=trial_name(number), tags=child_tags) as run:
        run.log_params(run_params(variant, *data_size))
        for stats in result.history:
            run.log_metrics(epoch_metrics(stats), step=stats.epoch)
        run.log_metrics(summary_metrics(result.summary_metadata()) | dict(zip(OBJECTIVES, objectives)))
    return run.run_id


@asset(
    deps=[user_sequences, context_features, item_tfidf, eval_negatives],
    group_name="tuning",
    kinds={"optuna", "pytorch", "mlflow"},
    op_tags=GPU_STEP_TAGS,
)
def lambda_pareto(
    context: AssetExecutionContext, config: ParetoConfig, warehouse: Warehouse, store: ArtifactStore, tracker: Tracker
) -> MaterializeResult:
    """Optuna study over v2's (λ_ent, λ_bal, gate init std) on validation; the Pareto-optimal settings scored on test."""
    import torch

    from hybridrec_ml.evaluation.negatives import load_eval_negatives
    from hybridrec_ml.tensors.bundle_loader import load_training_bundle
    from hybridrec_ml.reporting.pareto import front_table
    from hybridrec_ml.tuning.frontier import drop_dominated_weights, evaluate_front, study_points
    from hybridrec_ml.tuning.outcome import ParetoOutcome
    from hybridrec_ml.tuning.study import StudyPlan, open_study, run_study

    base = config.base_variant()
    cores = default_torch_threads(context.instance)
    n_jobs = config.n_jobs or max(1, min(config.n_trials, cores))
    name = config.study_name(base)
    plan = StudyPlan(
        storage_url=f"sqlite:///{store.path(*optuna_storage_path())}", study_name=name, base=base,
        model_dir=store.path(*study_models_folder(name)), balance=config.balance.value,
        torch_threads=max(1, cores // n_jobs),
    )  # fmt: skip
    plan.model_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cores)
    with warehouse.reader() as con:  # read once, read-only; trial processes get the tensors, never the database
        bundle = load_training_bundle(con, max_history=base.dims.max_history)
        test_negatives = load_eval_negatives(con, bundle.test.event_order)
    tags = {"dagster_run_id": context.run.run_id, "kind": "lambda_pareto", "study": name}
    with tracker.run(run_name=name, tags=tags) as parent:
        parent.log_params({"study": name, "storage": plan.storage_url, "n_trials": config.n_trials, "n_jobs": n_jobs,
                           "timeout_s": config.timeout_s, "balance": config.balance.value, "base_variant": base.name})
        settings = {"tracking_uri": tracker.tracking_uri, "experiment": tracker.experiment, "ui_url": tracker.ui_url,
                    "artifact_location": tracker.artifact_location}  # fmt: skip
        log_trial = functools.partial(log_trial_run, settings, parent.run_id, tags, (bundle.n_users, bundle.n_items))
        run_now = run_study(plan, bundle, n_trials=config.n_trials, timeout_s=config.timeout_s, n_jobs=n_jobs, log_trial=log_trial)
        points = evaluate_front(study_points(open_study(plan)), plan, bundle, test_negatives)
        drop_dominated_weights(points, plan)
        outcome = ParetoOutcome(name, plan.storage_url, base.name, config.balance.value, run_now, points)
        path = outcome.save(store.path(*pareto_outcome_path()))
        numbers = outcome.metadata_numbers()
        parent.log_metrics(numbers)
        parent.log_artifact(path)
    context.log.info(f"study {name}: {len(run_now)} trials run now, {len(points)} completed, {len(outcome.front)} on the front")
    return MaterializeResult(
        metadata=rounded_metadata(numbers) | {
            "study": name,
            "front": MetadataValue.md(front_table(outcome)),
            "outcome_file": MetadataValue.path(str(path)),
            "optuna_storage": MetadataValue.path(str(store.path(*optuna_storage_path()))),
            "dashboard": MetadataValue.text(f"optuna-dashboard {plan.storage_url}"),
            "mlflow_run": MetadataValue.url(parent.url),
        }
    )
