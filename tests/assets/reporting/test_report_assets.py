"""End to end on `tiny`: two variants + pop -> evaluation -> segment report -> results report."""

import re
from html.parser import HTMLParser

import numpy as np
from dagster import AssetKey, AssetSelection

from hybridrec_assets.artifacts import evaluation_path
from hybridrec_assets.partitions import run_partition_key
from hybridrec_ml.evaluation.variant_evaluation import load_evaluation

PARTITION_ASSETS = AssetSelection.assets("trained_model", "evaluation", "segment_report")
ONE_EPOCH = {"ops": {"trained_model": {"config": {"epochs": 1, "torch_threads": 1}}}}
VARIANTS = ("v1", "no_attention", "pop")


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.script_sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "script" and dict(attrs).get("src"):
            self.script_sources.append(dict(attrs)["src"])
        if tag not in {"meta", "br", "hr", "img", "link", "input"}:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"unbalanced </{tag}>"
        self.open.pop()


def _metadata(result, key):
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(key)]
    return {name: value.value for name, value in event.materialization.metadata.items()}


def test_report_holds_the_evaluation_numbers(env_with_data):
    evaluations, mlflow_runs = {}, {}
    for variant in VARIANTS:
        result = env_with_data.materialize(PARTITION_ASSETS, str(run_partition_key(variant, 42)), ONE_EPOCH)
        assert result.success
        evaluations[variant] = _metadata(result, "evaluation")
        mlflow_runs[variant] = _metadata(result, "trained_model")["mlflow_run_id"]
    report = env_with_data.materialize(AssetSelection.assets("results_report"))
    assert report.success
    metadata = _metadata(report, "results_report")
    assert metadata["evaluated_partitions"] == 3
    html = open(metadata["report"]).read()
    parser = _Tags()
    parser.feed(html)
    assert parser.open == [] and parser.script_sources == []  # valid nesting, plotly.js inlined: opens offline
    store = env_with_data.resources["store"]
    names = ("test_full_all_ndcg_at_10", "test_full_warm_ndcg_at_10", "test_sampled_all_ndcg_at_10",
             "test_sampled_warm_ndcg_at_10", "test_per_user_all_ndcg_at_10", "test_per_user_warm_ndcg_at_10")  # fmt: skip
    for variant in VARIANTS:
        stored = load_evaluation(store.path(*evaluation_path(variant, 42)))
        users = stored.users
        assert evaluations[variant]["users_all"] == len(users) > evaluations[variant]["users_warm"] > 0  # cold users in
        assert users["full:ndcg@10"].mean() == evaluations[variant]["test_full_all_ndcg_at_10"]
        assert stored.per_user.metrics["ndcg@10"] == evaluations[variant]["test_per_user_all_ndcg_at_10"]
        row = next(line for line in metadata["main_table"].splitlines() if line.startswith(f"| {variant} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        for cell, name in zip(cells[2:8], names):  # the main table's six columns, in order
            assert cell.startswith(f"{evaluations[variant][name]:.4f}")
        assert f"{evaluations[variant]['test_full_all_ndcg_at_10']:.4f}" in html
        logged = env_with_data.tracker.client().get_run(mlflow_runs[variant]).data.metrics
        for name in names:
            assert logged[name] == evaluations[variant][name]  # UI metadata, MLflow and the report: one number
    assert metadata["summary"].startswith("### What was run\n- Source: synthetic, scale tiny;")
    assert "<h2>Summary</h2>" in html and html.index("<h2>Summary</h2>") < html.index("<h2>Main results: NDCG@10</h2>")
    assert re.search(r"no_attention \| 1 \|.*\(0\.333, 0\.333, 0\.333\) \| n/a \(no learned gate\) \|", metadata["main_table"])
    assert np.isfinite(evaluations["v1"]["test_alpha_static"])
