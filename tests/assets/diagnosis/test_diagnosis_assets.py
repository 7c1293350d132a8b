"""gate_diagnosis and collapse_report through real Dagster runs on the tiny dataset."""

import json

import pytest
from dagster import AssetSelection
from mlflow.tracking import MlflowClient

from hybridrec_assets.artifacts import collapse_report_path, diagnosis_path, evaluation_path
from hybridrec_assets.partitions import run_partition_key
from hybridrec_ml.evaluation.variant_evaluation import load_evaluation

PER_PARTITION = AssetSelection.groups("model", "evaluation", "diagnosis")
ONE_EPOCH = {"ops": {"trained_model": {"config": {"epochs": 1, "torch_threads": 1}}}}


def test_diagnosis_of_a_learned_gate_and_of_a_fixed_fusion_then_the_report(env_with_data):
    results = {
        variant: env_with_data.materialize(PER_PARTITION, str(run_partition_key(variant, 42)), ONE_EPOCH)
        for variant in ("v1", "no_attention")
    }
    assert all(result.success for result in results.values())
    store = env_with_data.resources["store"]

    v1 = json.loads(store.path(*diagnosis_path("v1", 42)).read_text())
    assert v1["applicable"] and {c["component"] for c in v1["contributions"]} == {"static", "dynamic", "content"}
    overall = [c for c in v1["contributions"] if c["segment"] == "all"]
    assert sum(c["effective_share"] for c in overall) == pytest.approx(1.0)
    # the factor table's primary NDCG@10 and the drop test's are the main table's: full ranking, history mask, per user
    evaluated = load_evaluation(store.path(*evaluation_path("v1", 42)))
    assert overall[0]["ndcg@10"] == pytest.approx(evaluated.users["full:ndcg@10"].mean())
    assert v1["ndcg_sampled_user_ci"]["mean"] == pytest.approx(evaluated.users["sampled:ndcg@10"].mean())
    assert v1["ndcg_full_user_ci"]["mean"] == pytest.approx(evaluated.users["full:ndcg@10"].mean())
    assert v1["ndcg_full_user_ci"]["mask"] == "history"
    (epoch,) = v1["epochs"]
    assert {"gate_entropy", "gate_logit_grad_norm", "score_scale_static", "score_scale_dynamic", "score_scale_content"} <= set(epoch)

    # the per-epoch dynamics are MLflow curves too, and the collapse check carries the effective shares
    client = MlflowClient(tracking_uri=env_with_data.tracker.tracking_uri)
    event = [e for e in results["v1"].get_asset_materialization_events() if e.asset_key.path == ["trained_model"]][0]
    run_id = event.materialization.metadata["mlflow_run_id"].value
    for curve in ("gate_entropy", "gate_logit_grad_norm", "score_scale_content"):
        assert [m.step for m in client.get_metric_history(run_id, curve)] == [1], curve
    check = next(c for c in results["v1"].get_asset_check_evaluations() if c.check_name == "gate_not_collapsed")
    shares = [check.metadata[f"effective_share_{c}"].value for c in ("static", "dynamic", "content")]
    assert sum(shares) == pytest.approx(1.0, abs=1e-3)  # Dagster metadata floats carry 4 significant digits
    assert "max_alpha_mean" in check.metadata  # the study's definition stays the verdict

    fixed = json.loads(store.path(*diagnosis_path("no_attention", 42)).read_text())
    assert fixed["applicable"] is False and "contributions" not in fixed
    fixed_check = next(c for c in results["no_attention"].get_asset_check_evaluations() if c.check_name == "gate_not_collapsed")
    assert fixed_check.metadata["applicable"].value is False and "effective_share_static" not in fixed_check.metadata

    report = env_with_data.materialize(AssetSelection.assets("collapse_report"))
    assert report.success
    (event,) = report.get_asset_materialization_events()
    assert event.materialization.metadata["diagnosed_partitions"].value == 2
    assert "| v1 | 42 | study | informative | v1 |" in event.materialization.metadata["factor_table"].value
    html = store.path(*collapse_report_path()).read_text()
    assert "Why does the gate collapse?" in html and "not applicable (no learned gate)" in html
