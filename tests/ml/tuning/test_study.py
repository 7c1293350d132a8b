"""The study on a real Optuna sqlite storage with the planted bundle: trials, references, continuation, the front."""

import dataclasses
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

import optuna
import pytest
import torch

from hybridrec_ml.config import VARIANTS, ModelDims
from hybridrec_ml.evaluation.protocols import make_validator
from hybridrec_ml.tensors.sequences import batch_maker
from hybridrec_ml.training.trainer import train
from hybridrec_ml.tuning.frontier import drop_dominated_weights, evaluate_front, study_points
from hybridrec_ml.tuning.objectives import gate_balance
from hybridrec_ml.tuning.outcome import ParetoOutcome
from hybridrec_ml.tuning.pareto import pareto_optimal
from hybridrec_ml.tuning.space import GateSetting
from hybridrec_ml.locks import exclusive
from hybridrec_ml.tuning.study import StudyPlan, ask, open_study, run_study
from tests.ml.training.planted import planted_bundle

BUNDLE = planted_bundle()  # 48 users, 32 items


def small_v2():
    dims = ModelDims(embedding_dim=16, ncf_hidden=(16,), gru_hidden=16, content_hidden=(32, 16), gate_hidden=8)
    return dataclasses.replace(VARIANTS["v2"], dims=dims).with_train(batch_size=64, epochs=2, patience=2, lr=1e-2)


@pytest.fixture
def plan(tmp_path) -> StudyPlan:
    return StudyPlan(f"sqlite:///{tmp_path / 'optuna.db'}", "test-study", small_v2(), tmp_path / "models")


def test_trials_score_validation_ndcg_and_balance_and_a_rerun_continues_the_study(plan):
    logged = []
    run_now = run_study(plan, BUNDLE, n_trials=3, log_trial=lambda n, variant, result, values: logged.append(n) or f"run-{n}")
    assert run_now == [0, 1, 2]
    assert logged == [0, 1, 2]
    study = optuna.load_study(study_name="test-study", storage=plan.storage_url)
    first, second, third = study.trials
    # the references go first, once
    assert (first.user_attrs["reference"], second.user_attrs["reference"]) == ("v1", "v2 = study")
    assert "reference" not in third.user_attrs
    assert first.user_attrs["mlflow_run_id"] == "run-0"

    # the v1 trial's objectives are exactly a plain training run of v1's setting with the same validator
    variant = GateSetting(0.0, 0.0, None).apply(plan.base, "check")
    validate = make_validator(BUNDLE.val, BUNDLE.timeline, BUNDLE.n_items, make_query=batch_maker(variant, BUNDLE, "val"))
    result = train(variant, BUNDLE, validate=validate)
    alpha = result.history[result.best_epoch - 1].alpha_mean
    assert first.values == [result.best_val_ndcg_at_10, gate_balance(alpha)]
    assert first.user_attrs["alpha_mean"] == list(alpha)

    # a second call adds to the same study, without measuring the references again, at new points
    assert run_study(plan, BUNDLE, n_trials=2) == [3, 4]
    trials = optuna.load_study(study_name="test-study", storage=plan.storage_url).trials
    assert len(trials) == 5
    assert [t.user_attrs.get("reference") for t in trials].count("v1") == 1
    assert trials[3].params != trials[2].params


def test_the_front_is_scored_on_test_and_dominated_weights_are_deleted(plan):
    run_study(plan, BUNDLE, n_trials=4)
    points = study_points(open_study(plan))
    assert [p.pareto for p in points] == pareto_optimal([(p.val_ndcg_at_10, p.gate_balance) for p in points])
    negatives = torch.randint(0, BUNDLE.n_items, (len(BUNDLE.test), 9), generator=torch.Generator().manual_seed(0))
    scored = evaluate_front(points, plan, BUNDLE, negatives)
    assert all((p.test is not None) == p.pareto for p in scored)
    for point in scored:
        if point.pareto:
            assert 0.0 <= point.test["test_full_all_ndcg_at_10"] <= 1.0
            assert point.test["users_all"] == 48
    assert drop_dominated_weights(scored, plan) == sum(not p.pareto for p in scored)
    assert sorted(path.name for path in plan.model_dir.iterdir()) == sorted(
        f"trial-{p.number}.pt" for p in scored if p.pareto
    )
    outcome = ParetoOutcome("test-study", plan.storage_url, "v2", "entropy", [0, 1, 2, 3], scored)
    assert ParetoOutcome.load(outcome.save(plan.model_dir.parent / "outcome.json")) == outcome


def test_a_variant_without_a_learned_gate_cannot_be_studied(tmp_path):
    with pytest.raises(ValueError, match="'static_only' has no learned gate"):
        StudyPlan("sqlite:///x.db", "s", VARIANTS["static_only"], tmp_path)


def _ask_numbers(plan: StudyPlan, count: int) -> list[int]:
    study = open_study(plan)
    return [ask(plan, study).number for _ in range(count)]


def test_parallel_processes_take_each_enqueued_trial_once(plan):
    study = open_study(plan)
    for x in range(12):
        study.enqueue_trial({"x": float(x)})
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as pool:
        taken = [number for numbers in pool.map(_ask_numbers, [plan] * 3, [4] * 3) for number in numbers]
    assert sorted(taken) == list(range(12))
    assert {t.state for t in study.get_trials()} == {optuna.trial.TrialState.RUNNING}


def test_an_ask_waits_while_another_process_holds_the_lock(plan):
    study = open_study(plan)
    study.enqueue_trial({"x": 0.0})
    asked = []
    with exclusive(plan.ask_lock):
        worker = threading.Thread(target=lambda: asked.append(ask(plan, study).number))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and asked == []
        assert study.get_trials()[0].state == optuna.trial.TrialState.WAITING
    worker.join(30)
    assert asked == [0]
