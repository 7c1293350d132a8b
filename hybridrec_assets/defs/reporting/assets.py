"""results_report: every evaluated (variant, seed) in the study's tables, one offline HTML file, logged to MLflow."""

import subprocess
from datetime import datetime, timezone
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from hybridrec_assets.artifacts import ceilings_path, evaluation_path, pareto_outcome_path, report_path, summary_path
from hybridrec_assets.automation import REPORT_WHEN_EVALUATIONS_SETTLE
from hybridrec_assets.defs.evaluation.assets import evaluation
from hybridrec_assets.partitions import RUN_PARTITIONS, seeds_from_env, variant_and_seed
from hybridrec_assets.resources import ArtifactStore, DataSource, Tracker, Warehouse
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import table_exists


def code_commit() -> str:
    """The checkout's commit (with "+changes" when the tree is dirty), or why it is unknown."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit.stdout.strip() + (" +uncommitted changes" if dirty.stdout.strip() else "")


def _epochs_run(store: ArtifactStore, keys: list[tuple[str, int]]) -> str:
    """Epochs each variant trained (range over seeds), from the training summaries."""
    by_variant: dict[str, list[int]] = {}
    for name, seed in keys:
        path = store.locate(*summary_path(name, seed))
        if path.exists():
            by_variant.setdefault(name, []).append(int(store.read_json(*summary_path(name, seed))["summary"]["epochs"]))
    return ", ".join(
        f"{name} {min(n)}" + (f"-{max(n)}" if max(n) != min(n) else "") for name, n in by_variant.items()
    ) or "none recorded"


@asset(
    deps=[evaluation], group_name="report", kinds={"html", "mlflow"}, automation_condition=REPORT_WHEN_EVALUATIONS_SETTLE
)
def results_report(
    context: AssetExecutionContext, warehouse: Warehouse, store: ArtifactStore, tracker: Tracker, source: DataSource
) -> MaterializeResult:
    """Summary (what was run, the answer), main tables, populations, tests, segments and figures over all evaluated partitions."""
    # the report's stack (plotly, scipy, torch) loads in this step, not with the definitions
    from hybridrec_ml.data.transforms.context_buckets import planted_mechanism_shares
    from hybridrec_ml.evaluation.oracle_ceilings import OracleCeilings
    from hybridrec_ml.evaluation.variant_evaluation import load_evaluation
    from hybridrec_ml.reporting.results_report import RunDescription, build_results_report
    from hybridrec_ml.tuning.outcome import ParetoOutcome

    keys = [variant_and_seed(key) for key in RUN_PARTITIONS.get_partition_keys()]
    paths = [store.locate(*evaluation_path(name, seed)) for name, seed in keys]
    missing = [f"{name}/seed {seed}" for (name, seed), path in zip(keys, paths) if not path.exists()]
    if missing:
        context.log.warning(f"{len(missing)} partitions have no evaluation yet and are left out: {', '.join(missing)}")
    evaluations = [load_evaluation(path) for path in paths if path.exists()]
    with warehouse.reader() as con:
        planted = planted_mechanism_shares(con) if table_exists(con, schema.GROUND_TRUTH) else None
    run = RunDescription(
        source=source.kind,
        scale=source.synthetic_scale if source.kind == "synthetic" else (source.folder or source.reviews_path or "files"),
        epochs=_epochs_run(store, [(e.variant, e.seed) for e in evaluations]),
        commit=code_commit(),
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    ceilings_file = store.locate(*ceilings_path(int(seeds_from_env()[0])))
    ceilings = OracleCeilings.load(ceilings_file) if ceilings_file.exists() else None
    pareto_file = store.locate(*pareto_outcome_path())  # lambda_pareto is materialized on demand, not by the main command
    pareto = ParetoOutcome.load(pareto_file) if pareto_file.exists() else None
    report = build_results_report(
        evaluations, store.path(*report_path()), run=run, planted_shares=planted, ceilings=ceilings, pareto=pareto
    )
    context.log.info(f"results report written to {report.path}")
    with tracker.run(run_name="results_report", tags={"dagster_run_id": context.run.run_id, "kind": "report"}) as mlflow_run:
        mlflow_run.log_artifact(report.path)
    return MaterializeResult(
        metadata={
            "report": MetadataValue.path(str(report.path)),
            "report_url": MetadataValue.url(report.path.as_uri()),
            "summary": MetadataValue.md(report.summary),
            "main_table": MetadataValue.md(report.tables["main"]),
            "populations": MetadataValue.md(report.tables["populations"]),
            "ablation_table": MetadataValue.md(report.tables["ablation"] or "(v1 not evaluated)"),
            "segment_table": MetadataValue.md(report.tables["segments"]),
            "training_table": MetadataValue.md(report.tables["training"]),
            "significance": MetadataValue.md(report.tables["significance"]),
            "evaluated_partitions": len(evaluations),
            "missing_partitions": len(missing),
            "mlflow_run": MetadataValue.url(mlflow_run.url),
        }
    )
