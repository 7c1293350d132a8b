"""Sensors: new or changed source files refresh the data layer; automation sensors carry it on."""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from hybridrec_assets.resources import DataSource
from hybridrec_ml.data import fingerprints

DATA = AssetSelection.groups("data")


@sensor(
    name="source_files_changed",
    asset_selection=DATA,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description="Re-ingests when a source file is new or its content changed (size/mtime, then sha256)",
)
def source_files_changed(context: SensorEvaluationContext, source: DataSource) -> SensorResult | SkipReason:
    """The cursor holds each file's fingerprint; the run key is the content hash, so the same data never reruns."""
    watched = source.watched_files()
    if not watched:
        return SkipReason(f"source {source.kind!r} has no input files to watch (synthetic files are generated)")
    missing = [str(path) for path in watched if not path.is_file()]
    if missing:
        return SkipReason(f"waiting for missing source file(s): {', '.join(missing)}")
    previous = fingerprints.loads(context.cursor)
    current = fingerprints.fingerprint_files(watched, previous)
    changed = fingerprints.changed_files(previous, current)
    if not changed:
        return SensorResult(skip_reason=f"{len(current)} source file(s) unchanged", cursor=fingerprints.dumps(current))
    context.log.info("new or changed source files: %s", ", ".join(changed))
    request = RunRequest(
        run_key=f"source-{fingerprints.content_key(current)}",
        tags={"hybridrec/trigger": "source_files_changed", "hybridrec/changed_files": str(len(changed))},
    )
    return SensorResult(run_requests=[request], cursor=fingerprints.dumps(current))


# Evaluation, segments and the report follow their upstream: cheap, so on by default.
follow_upstream = AutomationConditionSensorDefinition(
    "follow_upstream",
    target=AssetSelection.groups("evaluation", "report"),
    default_status=DefaultSensorStatus.RUNNING,
    description="Evaluates a partition after its model is retrained; rewrites the report after evaluations settle",
)
# Retraining every partition after new data is expensive: off until the user switches it on.
retrain_on_new_data = AutomationConditionSensorDefinition(
    "retrain_on_new_data",
    target=AssetSelection.groups("model"),
    default_status=DefaultSensorStatus.STOPPED,
    description="Retrains every (variant, seed) partition after the data layer changed",
)
