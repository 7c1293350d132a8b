"""report_job: the results report over every evaluated partition."""

from dagster import AssetSelection, define_asset_job

report_job = define_asset_job("report_job", selection=AssetSelection.groups("report"), description="The results report")
