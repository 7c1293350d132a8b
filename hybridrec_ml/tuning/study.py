"""The (λ_ent, λ_bal, init std) study: a multi-objective Optuna study whose trials train variants of a base.

Every trial trains `SearchSpace.suggest`'s setting of the base variant with the project's trainer
(train split, early stopping on validation NDCG@10) and returns (val NDCG@10, gate balance of the
best epoch's mean α over the training rows: what the collapse check judges). Test data is never
read here. The storage is persistent, so a second call continues the same study; v1, v2 and the
study's setting are enqueued once, so every study measures them under its own training budget.
Trials run in `n_jobs` processes that share the storage and receive the inputs loaded once; no trial
starts after `timeout_s`, and a trial that raises is marked failed and ends the call.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import torch

from hybridrec_ml.config import VariantConfig
from hybridrec_ml.evaluation.protocols import validator_for
from hybridrec_ml.locks import exclusive
from hybridrec_ml.tensors.bundle import TrainingBundle
from hybridrec_ml.training.checkpoint import save_checkpoint
from hybridrec_ml.training.trainer import TrainResult, train
from hybridrec_ml.tuning.objectives import BalanceKind, gate_balance
from hybridrec_ml.tuning.space import SearchSpace, reference_settings

log = logging.getLogger(__name__)

OBJECTIVES: tuple[str, str] = ("val_ndcg_at_10", "gate_balance")  # both maximised
REFERENCE_ATTR = "reference"  # user attribute naming an enqueued reference setting (v1, v2, study)
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED)

# (trial number, trained variant, its training result, objective values) -> the MLflow run id it was logged to
TrialLogger = Callable[[int, VariantConfig, TrainResult, tuple[float, float]], str]


@dataclass(frozen=True)
class StudyPlan:
    """What every trial process needs besides the data (plain values, so it crosses a spawn)."""

    storage_url: str  # e.g. sqlite:////abs/path/study.db
    study_name: str
    base: VariantConfig  # the registry variant the settings apply to, with the trials' training settings
    model_dir: Path  # each trial's best-epoch weights, for the test evaluation of the frontier
    space: SearchSpace = field(default_factory=SearchSpace)
    balance: BalanceKind = "entropy"
    torch_threads: int = 1  # per trial process

    def __post_init__(self) -> None:
        if not self.base.has_learned_gate:
            raise ValueError(f"variant {self.base.name!r} has no learned gate: there is no balance to trade off")

    @property
    def ask_lock(self) -> str:
        """The name of the host-wide lock that serialises this study's asks (see `ask`)."""
        return f"optuna-ask {self.storage_url} {self.study_name}"

    def model_file(self, number: int) -> Path:
        return self.model_dir / f"trial-{number}.pt"


def trial_name(number: int) -> str:
    return f"lambda_pareto-trial-{number}"


def open_study(plan: StudyPlan, sampler_seed: int | None = None) -> optuna.Study:
    """The plan's study, created on first use; a sqlite store waits up to a minute for another process's write."""
    engine = {"connect_args": {"timeout": 60}} if plan.storage_url.startswith("sqlite") else None
    storage = optuna.storages.RDBStorage(plan.storage_url, engine_kwargs=engine)
    return optuna.create_study(
        storage=storage, study_name=plan.study_name, directions=["maximize", "maximize"], load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=sampler_seed),
    )  # fmt: skip


def finished_trials(study: optuna.Study) -> set[int]:
    return {t.number for t in study.get_trials(deepcopy=False, states=FINISHED)}


def run_study(
    plan: StudyPlan,
    bundle: TrainingBundle,
    *,
    n_trials: int,
    timeout_s: float | None = None,
    n_jobs: int = 1,
    log_trial: TrialLogger | None = None,
) -> list[int]:
    """Run up to `n_trials` more trials (none starts after `timeout_s`) in `n_jobs` processes; the numbers run.

    `log_trial` must be picklable (a module-level function or a partial of one) when n_jobs > 1.
    """
    if n_trials < 1 or n_jobs < 1:
        raise ValueError(f"n_trials and n_jobs must be at least 1, got {n_trials} and {n_jobs}")
    study = open_study(plan)
    for label, setting in reference_settings().items():
        study.enqueue_trial(plan.space.params(setting), user_attrs={REFERENCE_ATTR: label}, skip_if_exists=True)
    before = finished_trials(study)
    shares = [n_trials // n_jobs + (worker < n_trials % n_jobs) for worker in range(min(n_jobs, n_trials))]
    seed = plan.base.train.seed + 7919 * len(before)  # a continued study samples new points, not the first ones again
    if len(shares) == 1:
        _optimize(plan, bundle, shares[0], timeout_s, log_trial, seed)
    else:
        # spawn: a forked child that enters torch's OpenMP pool can wait forever on the parent's threads
        with ProcessPoolExecutor(len(shares), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [
                pool.submit(_optimize, plan, bundle, share, timeout_s, log_trial, seed + worker)
                for worker, share in enumerate(shares)
            ]
            for future in futures:
                future.result()
    return sorted(finished_trials(study) - before)


def _optimize(
    plan: StudyPlan, bundle: TrainingBundle, n_trials: int, timeout_s: float | None, log_trial: TrialLogger | None,
    sampler_seed: int,
) -> None:  # fmt: skip
    torch.set_num_threads(plan.torch_threads)
    study = open_study(plan, sampler_seed)
    started = time.monotonic()
    for _ in range(n_trials):
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            break
        trial = ask(plan, study)
        try:
            values = _objective(trial, plan, bundle, log_trial)
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        study.tell(trial, values)


def ask(plan: StudyPlan, study: optuna.Study) -> optuna.Trial:
    """The next trial, an enqueued one first; one process at a time.

    Asking moves a waiting (enqueued) trial to running. sqlite ignores the row lock that makes this
    move exclusive on a server database, so two processes could both take the same enqueued trial
    and the second `tell` fails ("Cannot tell a COMPLETE trial"): a host-wide lock serialises it.
    """
    with exclusive(plan.ask_lock):
        return study.ask()


def _objective(
    trial: optuna.Trial, plan: StudyPlan, bundle: TrainingBundle, log_trial: TrialLogger | None
) -> tuple[float, float]:
    setting = plan.space.suggest(trial)
    variant = setting.apply(plan.base, trial_name(trial.number))
    validate = validator_for(variant, bundle)
    result = train(variant, bundle, validate=validate)
    alpha = result.history[result.best_epoch - 1].alpha_mean
    objectives = (result.best_val_ndcg_at_10, gate_balance(alpha, plan.balance))
    save_checkpoint({"model": result.model.state_dict()}, plan.model_file(trial.number))
    for name, value in {
        "alpha_mean": list(alpha), "best_epoch": result.best_epoch, "epochs": len(result.history),
        "train_seconds": result.train_seconds, "device": result.device,
    }.items():  # fmt: skip
        trial.set_user_attr(name, value)
    if log_trial is not None:
        trial.set_user_attr("mlflow_run_id", log_trial(trial.number, variant, result, objectives))
    log.info("trial %d (%s): val NDCG@10 %.4f, balance %.4f", trial.number, setting.label(), *objectives)
    return objectives
