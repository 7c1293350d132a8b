"""From a study to its outcome: every completed trial as a point, the Pareto-optimal ones evaluated on test.

Selection uses validation objectives only; the test split is read afterwards, for the chosen points,
with the main protocol (per row, full ranking, history masked, mean over users).
"""

from __future__ import annotations

from dataclasses import replace

import optuna
import torch

from hybridrec_ml.evaluation.significance import mean_ci
from hybridrec_ml.evaluation.variant_evaluation import evaluate_variant
from hybridrec_ml.tensors.bundle import TrainingBundle
from hybridrec_ml.tensors.sequences import batch_maker
from hybridrec_ml.training.run_record import load_trained_model
from hybridrec_ml.training.trainer import resolve_device
from hybridrec_ml.tuning.outcome import TEST_METRICS, TrialPoint
from hybridrec_ml.tuning.pareto import pareto_optimal
from hybridrec_ml.tuning.space import SearchSpace
from hybridrec_ml.tuning.study import REFERENCE_ATTR, StudyPlan, trial_name


def study_points(study: optuna.Study) -> list[TrialPoint]:
    """Every completed trial, flagged Pareto-optimal on (val NDCG@10, balance) or not, by trial number."""
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    optimal = pareto_optimal([t.values for t in trials])
    return [
        TrialPoint(
            number=t.number, setting=SearchSpace.setting_of(t.params), val_ndcg_at_10=t.values[0],
            gate_balance=t.values[1], alpha_mean=tuple(t.user_attrs["alpha_mean"]),
            reference=t.user_attrs.get(REFERENCE_ATTR), pareto=is_optimal, mlflow_run_id=t.user_attrs.get("mlflow_run_id"),
        )  # fmt: skip
        for t, is_optimal in zip(trials, optimal)
    ]


def evaluate_front(
    points: list[TrialPoint], plan: StudyPlan, bundle: TrainingBundle, test_negatives: torch.Tensor
) -> list[TrialPoint]:
    """The points with the test numbers of each Pareto-optimal one (main protocol, every test user)."""
    device = resolve_device(plan.base.train.device)
    evaluated = []
    for point in points:
        if point.pareto:
            variant = point.setting.apply(plan.base, trial_name(point.number))
            model = load_trained_model(variant, bundle, plan.model_file(point.number)).to(device)
            result = evaluate_variant(
                model, bundle, test_negatives, variant=variant.name, seed=plan.base.train.seed,
                make_query=batch_maker(variant, bundle, "test"),
            )  # fmt: skip
            numbers = result.metadata()
            ci = mean_ci(result.users["full:ndcg@10"].to_numpy())
            point = replace(point, test={key: numbers[key] for key in TEST_METRICS if key in numbers} | {
                "test_full_all_ndcg_at_10_ci95": ci.half_width,
            })  # fmt: skip
        evaluated.append(point)
    return evaluated


def drop_dominated_weights(points: list[TrialPoint], plan: StudyPlan) -> int:
    """Delete the weights of dominated trials (a dominated point never returns to the front); how many."""
    removed = 0
    for point in points:
        path = plan.model_file(point.number)
        if not point.pareto and path.exists():
            path.unlink()
            removed += 1
    return removed
