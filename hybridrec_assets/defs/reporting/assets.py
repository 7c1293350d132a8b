"""results_report: every evaluated (variant, seed) in the study's tables, one offline HTML file, logged to MLflow."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from hybridrec_assets.artifacts import evaluation_path, report_path
from hybridrec_assets.defs.evaluation.assets import evaluation
from hybridrec_assets.automation import REPORT_WHEN_EVALUATIONS_SETTLE
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_assets.resources import ArtifactStore, Tracker, Warehouse
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.transforms.context_buckets import planted_mechanism_shares
from hybridrec_ml.data.warehouse.tables import table_exists
from hybridrec_ml.evaluation.variant_evaluation import load_evaluation
from hybridrec_ml.reporting.results_report import build_results_report


@asset(
    deps=[evaluation], group_name="report", kinds={"html", "mlflow"}, automation_condition=REPORT_WHEN_EVALUATIONS_SETTLE
)
def results_report(
    context: AssetExecutionContext, warehouse: Warehouse, store: ArtifactStore, tracker: Tracker
) -> MaterializeResult:
    """Main table, ablations, segments, significance and figures over all evaluated partitions."""
    keys = [variant_and_seed(key) for key in RUN_PARTITIONS.get_partition_keys()]
    paths = [store.path(*evaluation_path(name, seed)) for name, seed in keys]
    missing = [f"{name}/seed {seed}" for (name, seed), path in zip(keys, paths) if not path.exists()]
    if missing:
        context.log.warning(f"{len(missing)} partitions have no evaluation yet and are left out: {', '.join(missing)}")
    evaluations = [load_evaluation(path) for path in paths if path.exists()]
    with warehouse.reader() as con:
        planted = planted_mechanism_shares(con) if table_exists(con, schema.GROUND_TRUTH) else None
    report = build_results_report(evaluations, store.path(*report_path()), planted_shares=planted)
    context.log.info(f"results report written to {report.path}")
    with tracker.run(run_name="results_report", tags={"dagster_run_id": context.run.run_id, "kind": "report"}) as run:
        run.log_artifact(report.path)
    return MaterializeResult(
        metadata={
            "report": MetadataValue.path(str(report.path)),
            "report_url": MetadataValue.url(report.path.as_uri()),
            "main_table": MetadataValue.md(report.tables["main"]),
            "ablation_table": MetadataValue.md(report.tables["ablation"] or "(v1 not evaluated)"),
            "segment_table": MetadataValue.md(report.tables["segments"]),
            "significance": MetadataValue.md(report.tables["significance"]),
            "evaluated_partitions": len(evaluations),
            "missing_partitions": len(missing),
            "mlflow_run": MetadataValue.url(run.url),
        }
    )
