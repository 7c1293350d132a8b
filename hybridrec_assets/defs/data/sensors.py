"""source_files_changed: new or changed source files refresh the data layer."""

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from hybridrec_assets.defs.data.ingest import SOURCE_KEY
from hybridrec_assets.defs.data.jobs import data_job
from hybridrec_assets.resources import DataSource
from hybridrec_ml.data.sources import fingerprints


@sensor(
    name="source_files_changed",
    job=data_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description="Re-ingests when the source files' content differs from what the warehouse was built from",
)
def source_files_changed(context: SensorEvaluationContext, source: DataSource) -> SensorResult | SkipReason:
    """Compares the files' content key with the one recorded by the latest ingest, not with the last look:
    reverting to earlier files, or switching the sensor on over an up-to-date warehouse, both do the right thing."""
    watched = source.watched_files()
    if not watched:
        return SkipReason(f"source {source.kind!r} has no local input files to watch (generated or downloaded by the ingest)")
    missing = [str(path) for path in watched if not path.is_file()]
    if missing:
        return SkipReason(f"waiting for missing source file(s): {', '.join(missing)}")
    current = fingerprints.fingerprint_files(watched, fingerprints.loads(context.cursor))
    cursor = fingerprints.dumps(current)
    moving = fingerprints.unsettled(current)
    if moving:
        return SensorResult(skip_reason=f"waiting for file(s) to settle: {', '.join(moving)}", cursor=cursor)
    files_key = fingerprints.content_key(current)
    built_from = _warehouse_source_key(context)
    if files_key == built_from:
        return SensorResult(skip_reason=f"the warehouse holds these files (source key {files_key})", cursor=cursor)
    request = RunRequest(
        run_key=f"source-{built_from}-to-{files_key}",  # one run per transition; reverting is a new transition
        tags={"hybridrec/trigger": "source_files_changed", "hybridrec/source_key": files_key},
    )
    return SensorResult(run_requests=[request], cursor=cursor)


def _warehouse_source_key(context: SensorEvaluationContext) -> str:
    event = context.instance.get_latest_materialization_event(AssetKey("raw_reviews"))
    entry = event.asset_materialization.metadata.get(SOURCE_KEY) if event and event.asset_materialization else None
    return str(entry.value) if entry is not None else "none"
