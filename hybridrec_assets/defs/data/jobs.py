"""data_job: the ingest and every derived data table."""

from dagster import AssetSelection, define_asset_job

data_job = define_asset_job(
    "data_job", selection=AssetSelection.groups("data"), description="Ingest and every derived data table"
)
