"""Jobs: the data layer, one (variant, seed) partition of model work, and the report."""

from dagster import AssetSelection, define_asset_job

from hybridrec_assets.executors import model_executor


data_job = define_asset_job(
    "data_job", selection=AssetSelection.groups("data"), description="Ingest and every derived data table"
)
variant_job = define_asset_job(
    "variant_job",
    selection=AssetSelection.groups("model", "evaluation"),
    executor_def=model_executor(),  # locally one partition's steps run in sequence; parallelism is across partitions
    description="Train, evaluate and segment one (variant, seed) partition",
)
report_job = define_asset_job("report_job", selection=AssetSelection.groups("report"), description="The results report")
