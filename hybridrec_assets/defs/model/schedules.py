"""The weekly rerun: retrain, evaluate and segment every (variant, seed) partition."""

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from hybridrec_assets.defs.model.jobs import variant_job
from hybridrec_assets.partitions import RUN_PARTITIONS

WEEKLY_CRON = "0 3 * * 0"  # Sundays 03:00 UTC


@schedule(
    name="weekly_retrain",
    cron_schedule=WEEKLY_CRON,
    execution_timezone="UTC",
    job=variant_job,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Every Sunday: one variant_job run per (variant, seed) partition; the report follows by automation",
)
def weekly_retrain(context: ScheduleEvaluationContext) -> list[RunRequest]:
    """One run request per partition; the run key holds the week, so a tick is never launched twice."""
    week = context.scheduled_execution_time.date().isoformat()
    return [
        RunRequest(partition_key=key, run_key=f"{key}@{week}", tags={"hybridrec/trigger": "weekly_retrain"})
        for key in RUN_PARTITIONS.get_partition_keys()
    ]
