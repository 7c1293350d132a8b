"""variant_job: train, evaluate and segment one (variant, seed) partition in one run."""

from dagster import AssetSelection, define_asset_job, in_process_executor

variant_job = define_asset_job(
    "variant_job",
    selection=AssetSelection.groups("model", "evaluation"),
    executor_def=in_process_executor,  # one partition's steps are sequential; parallelism is across partitions
    description="Train, evaluate and segment one (variant, seed) partition",
)
