"""Jobs: the data layer, one (variant, seed) partition of model work, and the report."""

from dagster import AssetSelection, define_asset_job, in_process_executor


data_job = define_asset_job(
    "data_job", selection=AssetSelection.groups("data"), description="Ingest and every derived data table"
)
variant_job = define_asset_job(
    "variant_job",
    selection=AssetSelection.groups("model", "evaluation", "serving"),
    executor_def=in_process_executor,  # one partition's steps are sequential; parallelism is across partitions
    description="Train, evaluate, segment and recommend for one (variant, seed) partition",
)
report_job = define_asset_job("report_job", selection=AssetSelection.groups("report"), description="The results report")
