"""variant_job: train, evaluate and segment one (variant, seed) partition in one run."""

from dagster import AssetSelection, define_asset_job

from hybridrec_assets.executors import model_executor

variant_job = define_asset_job(
    "variant_job",
    selection=AssetSelection.groups("model", "evaluation", "serving"),
    executor_def=model_executor(),  # one partition's steps are sequential; parallelism is across partitions
    description="Train, evaluate, segment and recommend for one (variant, seed) partition",
)
