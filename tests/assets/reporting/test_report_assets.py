"""End to end on `tiny`: two variants + pop -> evaluation -> segment report -> results report."""

import re
from html.parser import HTMLParser

import numpy as np
import pytest
from dagster import AssetKey, AssetSelection

from hybridrec_assets.artifacts import ceilings_path, evaluation_path
from hybridrec_assets.metadata import rounded
from hybridrec_assets.partitions import run_partition_key
from hybridrec_ml.config import ALPHA_COLUMNS, EFFECTIVE_SHARE_COLUMNS
from hybridrec_ml.evaluation.oracle_ceilings import OracleCeilings
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
    messages = [entry.user_message for entry in env_with_data.instance.all_logs(report.run_id)]
    assert f"results report written to {metadata['report']}" in messages  # the run's log says where it is
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
        logged = env_with_data.tracker.client().get_run(mlflow_runs[variant]).data.metrics
        assert users["full:ndcg@10"].mean() == logged["test_full_all_ndcg_at_10"]
        assert stored.per_user.metrics["ndcg@10"] == logged["test_per_user_all_ndcg_at_10"]
        row = next(line for line in metadata["main_table"].splitlines() if line.startswith(f"| {variant} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        for cell, name in zip(cells[2:8], names):  # the main table's six columns, in order
            assert cell.startswith(f"{logged[name]:.4f}")
        assert f"{logged['test_full_all_ndcg_at_10']:.4f}" in html
        for name in names:  # MLflow and the report: one number; the UI shows it to 4 significant digits
            assert evaluations[variant][name] == rounded(logged[name])
            assert len(f"{evaluations[variant][name]:.6e}".split("e")[0].replace(".", "").rstrip("0")) <= 4
    assert metadata["summary"].startswith("### What was run\n- Source: synthetic, scale tiny; profile demo, epochs:")
    assert "<h2>Summary</h2>" in html and html.index("<h2>Summary</h2>") < html.index("<h2>Main results: NDCG@10</h2>")
    assert re.search(r"no_attention \| 1 \|.*\(0\.333, 0\.333, 0\.333\) \| n/a \(no learned gate\) \|", metadata["main_table"])
    assert np.isfinite(evaluations["v1"]["test_alpha_static"])


def test_the_oracle_partition_sets_the_ceiling_the_report_measures_against(env_with_data):
    evaluations = {}
    for variant in ("oracle", "v1"):
        result = env_with_data.materialize(PARTITION_ASSETS, str(run_partition_key(variant, 42)), ONE_EPOCH)
        assert result.success
        evaluations[variant] = _metadata(result, "evaluation")
    store = env_with_data.resources["store"]
    oracle, v1 = (load_evaluation(store.path(*evaluation_path(v, 42))).users["full:ndcg@10"].mean() for v in ("oracle", "v1"))
    assert oracle > v1
    assert evaluations["oracle"]["context_gain"] == pytest.approx(  # both as shown: 4 significant digits
        rounded(oracle) / evaluations["oracle"]["context_free_oracle_ndcg_at_10"] - 1, rel=1e-3
    )
    report = env_with_data.materialize(AssetSelection.assets("results_report"))
    metadata = _metadata(report, "results_report")
    rows = {line.split("|")[1].strip(): line for line in metadata["main_table"].splitlines()}
    assert rows["oracle"].endswith("| 100.0% |")
    assert rows["v1"].endswith(f"| {100 * v1 / oracle:.1f}% |")
    html = open(metadata["report"]).read()
    assert "Gate vs the oracle-optimal fusion per context bucket" in html
    assert f"Bayes oracle {oracle:.4f}" in html
    # v1's gate against the oracle fusion: α and the effective shares each test row's full ranking recorded
    stored = load_evaluation(store.path(*evaluation_path("v1", 42)))
    assert stored.effective_share.shape == (len(stored.row_user), 3)
    np.testing.assert_allclose(stored.effective_share.sum(axis=1), 1.0, rtol=1e-6)
    assert evaluations["v1"]["test_effective_share_content"] == rounded(float(stored.effective_share[:, 2].mean()))
    ceilings = OracleCeilings.load(store.path(*ceilings_path(42)))
    by_bucket = stored.context_alpha.set_index("bucket")
    weights = np.array([b.n_rows for b in ceilings.fusion_by_bucket], dtype=np.float64)
    distances = {
        columns: np.average(
            [0.5 * np.abs(by_bucket.loc[b.bucket, list(columns)].to_numpy() - b.optimal).sum() for b in ceilings.fusion_by_bucket],
            weights=weights,
        )
        for columns in (ALPHA_COLUMNS, EFFECTIVE_SHARE_COLUMNS)
    }
    assert (
        f"v1: α is {distances[ALPHA_COLUMNS]:.3f} from the oracle-optimal fusion (total variation, mean over buckets "
        f"weighted by rows), its effective shares {distances[EFFECTIVE_SHARE_COLUMNS]:.3f};"
    ) in html
