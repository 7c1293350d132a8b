"""The gate-collapse check: its partitioned spec and its result from a mean α (training and segment views)."""

from __future__ import annotations

import os
import warnings

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue, PreviewWarning

from hybridrec_assets.metadata import rounded_metadata
from hybridrec_assets.partitions import RUN_PARTITIONS
from hybridrec_ml.config import ALL_COMPONENTS, ALPHA_COLUMNS

GATE_CHECK = "gate_not_collapsed"  # on trained_model; segment_report's is f"{GATE_CHECK}_by_segment"


def collapse_check_blocking() -> bool:
    """HYBRIDREC_COLLAPSE_BLOCKING=1 makes a collapsed gate block downstream evaluation (off by default:
    v1 is expected to collapse and must still be evaluated)."""
    return os.environ.get("HYBRIDREC_COLLAPSE_BLOCKING", "0") == "1"


def run_partitioned_spec(asset: str, name: str, description: str, blocking: bool = False) -> AssetCheckSpec:
    """Partitioned like its asset, so the UI shows each (variant, seed)'s own verdict, not just the latest."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)  # partitioned check specs are a preview API in 1.13
        return AssetCheckSpec(name, asset=asset, description=description, blocking=blocking, partitions_def=RUN_PARTITIONS)


def collapse_spec(asset: str, name: str, description: str) -> AssetCheckSpec:
    return run_partitioned_spec(asset, name, description, blocking=collapse_check_blocking())


def collapse_result(
    name: str, alpha_mean: tuple[float, float, float] | None, threshold: float, severity: str, scope: str,
    effective_share: tuple[float, ...] | None = None,
) -> AssetCheckResult:
    """Fails when the largest mean α exceeds `threshold` (the study's definition); variants without a learned
    gate are not applicable. `effective_share` (α × score scale, as shares) only goes to the metadata."""
    if alpha_mean is None:
        return AssetCheckResult(
            check_name=name,
            passed=True,
            severity=AssetCheckSeverity(severity),
            description=f"not applicable: this variant has no learned gate ({scope})",
            metadata={"applicable": False},
        )
    largest = max(alpha_mean)
    collapsed = largest > threshold
    return AssetCheckResult(
        check_name=name,
        passed=not collapsed,
        severity=AssetCheckSeverity(severity),
        description=(
            f"gate collapsed: max mean α {largest:.3f} > {threshold} ({scope})"
            if collapsed
            else f"gate balanced enough: max mean α {largest:.3f} <= {threshold} ({scope})"
        ),
        metadata=rounded_metadata({
            "applicable": True,
            **dict(zip(ALPHA_COLUMNS, alpha_mean)),
            "max_alpha_mean": largest,
            "threshold": threshold,
            "scope": MetadataValue.text(scope),
            **({f"effective_share_{c}": v for c, v in zip(ALL_COMPONENTS, effective_share)} if effective_share else {}),
        }),
    )
