"""Variant partitions train through Dagster into exactly one MLflow run each, which always ends."""

import pytest
from dagster import AssetSelection, DagsterInstance
from mlflow.tracking import MlflowClient

from hybridrec_assets.artifacts import resume_path
from hybridrec_assets.defs.model.assets import TrainingConfig
from hybridrec_assets.resources import EXPERIMENT_KIND, TAKEN_OVER_BY_TAG, ArtifactStore, Tracker, Warehouse
from hybridrec_ml.tensors.bundle_loader import load_training_bundle
from hybridrec_ml.training.run_record import swap_tracked_run
from hybridrec_ml.training.trainer import EpochStats, train

from hybridrec_assets.defs.model.checks import collapse_result
from hybridrec_assets.metadata import rounded
from hybridrec_assets.partitions import run_partition_key
from hybridrec_assets.torch_threads import default_torch_threads
from hybridrec_ml.training.run_record import EPOCH_CURVES

MODEL = AssetSelection.assets("trained_model")
ONE_EPOCH = {"ops": {"trained_model": {"config": {"epochs": 1, "torch_threads": 1}}}}


def _runs(env):
    client = MlflowClient(tracking_uri=env.tracker.tracking_uri)
    experiment = client.get_experiment_by_name(env.tracker.experiment)
    return client, client.search_runs([experiment.experiment_id])


def test_two_partitions_give_one_finished_mlflow_run_each(env_with_data):
    results = {
        variant: env_with_data.materialize(MODEL, str(run_partition_key(variant, 42)), ONE_EPOCH)
        for variant in ("v1", "static_only")
    }
    client, runs = _runs(env_with_data)
    assert sorted(run.info.run_name for run in runs) == ["static_only-seed42", "v1-seed42"]
    for run in runs:
        assert run.info.status == "FINISHED"
        variant = run.data.params["variant"]
        assert run.data.params["seed"] == "42"
        assert run.data.params["epochs"] == "1"
        assert run.data.tags["dagster_run_id"] == results[variant].run_id
        assert {"loss", "val_ndcg_at_10", "best_val_ndcg_at_10", "samples_per_s"} <= set(run.data.metrics)
        assert len(client.get_metric_history(run.info.run_id, "val_ndcg_at_10")) == 1
        (event,) = results[variant].get_asset_materialization_events()
        metadata = event.materialization.metadata
        assert metadata["mlflow_run_id"].value == run.info.run_id
        assert metadata["best_val_ndcg_at_10"].value == rounded(run.data.metrics["best_val_ndcg_at_10"])
    v1 = next(run for run in runs if run.data.params["variant"] == "v1")
    for curve in EPOCH_CURVES:  # one point per epoch: the summary never adds a step-0 point
        assert [m.step for m in client.get_metric_history(v1.info.run_id, curve)] == [1], curve
    (v1_event,) = results["v1"].get_asset_materialization_events()
    assert rounded(v1.data.metrics["summary_alpha_static"]) == v1_event.materialization.metadata["alpha_static"].value
    (v1_check,) = results["v1"].get_asset_check_evaluations()
    assert (v1_check.check_name, v1_check.partition) == ("gate_not_collapsed", "42|v1")
    assert v1_check.metadata["threshold"].value == 0.9
    (static_check,) = results["static_only"].get_asset_check_evaluations()
    assert static_check.passed and static_check.description.startswith("not applicable")
    assert static_check.partition == "42|static_only"


def test_training_that_raises_ends_its_mlflow_run_failed(env_with_data):
    bad = {"ops": {"trained_model": {"config": {"epochs": 1, "lr": -1.0}}}}
    result = env_with_data.materialize(MODEL, str(run_partition_key("bpr_mf", 42)), bad, raise_on_error=False)
    assert not result.success
    _, runs = _runs(env_with_data)
    assert [(run.info.run_name, run.info.status) for run in runs] == [("bpr_mf-seed42", "FAILED")]


def test_collapse_check_fails_on_collapsed_gate_and_passes_on_uniform():
    collapsed = collapse_result("gate_not_collapsed", (0.99, 0.005, 0.005), 0.9, "WARN", "test")
    assert not collapsed.passed
    assert collapsed.severity.value == "WARN"
    assert collapsed.metadata["max_alpha_mean"].value == 0.99
    uniform = collapse_result("gate_not_collapsed", (1 / 3, 1 / 3, 1 / 3), 0.9, "ERROR", "test")
    assert uniform.passed
    not_applicable = collapse_result("gate_not_collapsed", None, 0.9, "WARN", "test")
    assert not_applicable.passed and not_applicable.metadata["applicable"].value is False


def test_default_torch_threads_share_the_cores_among_the_instance_concurrent_runs(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    for limit, threads in ((4, 4), (10, 1), (32, 1), (-1, 16)):  # -1: no limit, so no sharing to plan for
        home = tmp_path / str(limit)
        home.mkdir()
        overrides = {"concurrency": {"runs": {"max_concurrent_runs": limit}}}
        with DagsterInstance.local_temp(str(home), overrides=overrides) as instance:
            assert default_torch_threads(instance) == threads, limit


def test_a_rerun_after_a_kill_closes_the_orphaned_mlflow_run_and_logs_the_restored_epochs(env_with_data):
    """What kill -9 after epoch 1 leaves: a checkpoint of epoch 1 and an MLflow run still RUNNING."""
    key = run_partition_key("v1", 42)
    two_epochs = {"ops": {"trained_model": {"config": {"epochs": 2, "torch_threads": 1}}}}
    variant = TrainingConfig(epochs=2, torch_threads=1).variant("v1", 42)
    resume_dir = ArtifactStore(root=env_with_data.resources["store"].root).path(*resume_path("v1", 42))
    with Warehouse(database=env_with_data.resources["warehouse"].database).reader() as con:
        bundle = load_training_bundle(con, max_history=variant.dims.max_history)

    def killed_after_epoch_1(stats: EpochStats) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(variant, bundle, validate=lambda model: 0.25, checkpoint_dir=resume_dir, on_epoch=killed_after_epoch_1)
    client = env_with_data.tracker.client()
    orphan = client.create_run(client.create_experiment(env_with_data.tracker.experiment), run_name="v1-seed42")
    swap_tracked_run(resume_dir, orphan.info.run_id)

    result = env_with_data.materialize(MODEL, str(key), two_epochs)

    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["resumed_from_epoch"].value == 1
    new_run_id = event.materialization.metadata["mlflow_run_id"].value
    killed = client.get_run(orphan.info.run_id)
    assert (killed.info.status, killed.data.tags[TAKEN_OVER_BY_TAG]) == ("KILLED", new_run_id)
    curve = client.get_metric_history(new_run_id, "val_ndcg_at_10")
    assert sorted(m.step for m in curve) == [1, 2] and [m.value for m in curve if m.step == 1] == [0.25]
    assert client.get_run(new_run_id).info.status == "FINISHED"



def test_the_experiment_is_marked_as_model_training_new_or_existing(tmp_path):
    """MLflow 3's UI opens an untagged experiment in its GenAI view, where training runs do not show."""
    tracker = Tracker(tracking_uri=f"sqlite:///{tmp_path / 'mlruns.db'}")
    client = tracker.client()
    client.create_experiment("hybridrec")  # as an older version of this code left it: untagged
    with tracker.run("v1-seed42", {}):
        pass
    assert client.get_experiment_by_name("hybridrec").tags["mlflow.experimentKind"] == "custom_model_development"
    fresh = Tracker(tracking_uri=f"sqlite:///{tmp_path / 'mlruns.db'}", experiment="other")
    with fresh.run("v1-seed42", {}):
        pass
    assert client.get_experiment_by_name("other").tags == EXPERIMENT_KIND
