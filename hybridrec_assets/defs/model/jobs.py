"""variant_job: train, evaluate and segment one (variant, seed) partition in one run."""

from dagster import AssetSelection, define_asset_job

# The code location's executor runs one partition's steps in sequence; parallelism is across partitions.
variant_job = define_asset_job(
    "variant_job",
    selection=AssetSelection.groups("model", "evaluation", "serving"),
    description="Train, evaluate, segment and recommend for one (variant, seed) partition",
)
