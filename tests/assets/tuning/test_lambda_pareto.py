"""lambda_pareto through real Dagster materializations on `tiny`: Optuna sqlite storage, MLflow child runs, continuation."""

import optuna
from dagster import AssetSelection
from mlflow.tracking import MlflowClient

from hybridrec_assets.artifacts import optuna_storage_path, pareto_outcome_path
from hybridrec_ml.tuning.outcome import ParetoOutcome

PARETO = AssetSelection.assets("lambda_pareto")
STUDY = "lambda_pareto-v2-entropy-demo-e1p2-seed42"


def config(**overrides) -> dict:
    return {"ops": {"lambda_pareto": {"config": {"epochs": 1, "profile": "demo"} | overrides}}}


def test_a_rerun_continues_the_study_with_trials_as_mlflow_child_runs(env_with_data):
    env = env_with_data
    store = env.resources["store"]
    first = env.materialize(PARETO, run_config=config(n_trials=3, n_jobs=2))  # two trial processes
    assert first.success
    (event,) = first.get_asset_materialization_events()
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    assert (metadata["trials_run_now"], metadata["trials_completed"], metadata["study"]) == (3, 3, STUDY)
    storage = f"sqlite:///{store.path(*optuna_storage_path())}"
    assert metadata["dashboard"] == f"optuna-dashboard {storage}"

    second = env.materialize(PARETO, run_config=config(n_trials=1))
    assert second.success
    (event,) = second.get_asset_materialization_events()
    assert event.materialization.metadata["trials_completed"].value == 4
    assert event.materialization.metadata["trials_run_now"].value == 1

    study = optuna.load_study(study_name=STUDY, storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert sorted(t.user_attrs.get("reference", "") for t in study.trials) == ["", "", "v1", "v2 = study"]

    # one MLflow parent run per materialization, each trial a FINISHED child run of its own parent
    client = MlflowClient(tracking_uri=env.tracker.tracking_uri)
    experiment = client.get_experiment_by_name(env.tracker.experiment)
    runs = client.search_runs([experiment.experiment_id])
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("kind") == "lambda_pareto" and "trial" not in r.data.tags}
    children = [r for r in runs if "trial" in r.data.tags]
    assert len(parents) == 2 and len(children) == 4
    assert all(r.info.status == "FINISHED" for r in runs)
    by_parent = {}
    for child in children:
        by_parent.setdefault(child.data.tags["mlflow.parentRunId"], []).append(int(child.data.tags["trial"]))
    first_parent = next(r for r in parents.values() if r.data.tags["dagster_run_id"] == first.run_id).info.run_id
    assert sorted(by_parent[first_parent]) == [0, 1, 2]
    for child in children:
        trial = study.trials[int(child.data.tags["trial"])]
        assert trial.user_attrs["mlflow_run_id"] == child.info.run_id
        assert [child.data.metrics["val_ndcg_at_10"], child.data.metrics["gate_balance"]] == trial.values

    # the stored outcome: every trial, and test numbers on the Pareto-optimal ones only
    outcome = ParetoOutcome.load(store.path(*pareto_outcome_path()))
    assert [p.number for p in outcome.points] == [0, 1, 2, 3]
    assert outcome.trials_run_now == [3]
    assert outcome.front and all((p.test is not None) == p.pareto for p in outcome.points)
