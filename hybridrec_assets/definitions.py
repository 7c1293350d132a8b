"""The code location: assets, checks, jobs, schedules, sensors and resources. Nothing else lives here."""

import os

from dagster import Definitions

from hybridrec_assets.automation import follow_upstream, retrain_on_new_data
from hybridrec_assets.defs.data.assets import DATA_ASSETS
from hybridrec_assets.defs.data.exports import recbole_export
from hybridrec_assets.defs.data.ingest import raw_tables
from hybridrec_assets.defs.data.jobs import data_job
from hybridrec_assets.defs.data.sensors import source_files_changed
from hybridrec_assets.defs.diagnosis.assets import collapse_report, gate_diagnosis
from hybridrec_assets.defs.evaluation.assets import evaluation, segment_report
from hybridrec_assets.defs.model.assets import trained_model
from hybridrec_assets.defs.model.jobs import variant_job
from hybridrec_assets.defs.model.schedules import weekly_retrain
from hybridrec_assets.defs.reporting.assets import results_report
from hybridrec_assets.defs.reporting.jobs import report_job
from hybridrec_assets.executors import default_executor
from hybridrec_assets.defs.serving.assets import recommendations
from hybridrec_assets.defs.tuning.assets import lambda_pareto
from hybridrec_assets.resources import ArtifactStore, DataSource, Tracker, Warehouse


def default_resources() -> dict[str, object]:
    """Resources configured from HYBRIDREC_* environment variables, with repo-relative defaults."""
    env = os.environ.get
    return {
        "warehouse": Warehouse(database=env("HYBRIDREC_WAREHOUSE", "data/hybridrec.duckdb")),
        "store": ArtifactStore(root=env("HYBRIDREC_ARTIFACTS", "artifacts")),
        "tracker": Tracker(
            tracking_uri=env("MLFLOW_TRACKING_URI", "sqlite:///mlruns.db"),
            artifact_location=env("HYBRIDREC_MLFLOW_ARTIFACTS"),
        ),
        "source": DataSource.from_env(os.environ),
    }


defs = Definitions(
    assets=[raw_tables, *DATA_ASSETS, recbole_export, trained_model, evaluation, segment_report, recommendations, lambda_pareto,
            results_report, gate_diagnosis, collapse_report],
    jobs=[data_job, variant_job, report_job],
    schedules=[weekly_retrain],
    sensors=[source_files_changed, follow_upstream, retrain_on_new_data],
    resources=default_resources(),
    executor=default_executor(),
)
