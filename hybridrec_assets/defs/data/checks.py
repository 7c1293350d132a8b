"""Turning the plain check outcomes of hybridrec_ml's data checks into Dagster check results."""

from dagster import AssetCheckResult, AssetCheckSeverity

from hybridrec_assets.metadata import rounded_metadata
from hybridrec_ml.data.warehouse.checks import CheckOutcome


def check_result(name: str, outcome: CheckOutcome) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=name,
        passed=outcome.passed,
        severity=AssetCheckSeverity(outcome.severity),
        description=outcome.description,
        metadata=rounded_metadata(outcome.metadata),
    )
