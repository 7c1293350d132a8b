"""The weekly rerun: retrain, evaluate and segment every (variant, seed) partition of the main variants.

The collapse experiments (issue 14's factor grid and fixes) run on demand, so they do not grow the weekly cost.
"""

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from hybridrec_assets.defs.model.jobs import variant_job
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_ml.config import MAIN_VARIANTS

WEEKLY_CRON = "0 3 * * 0"  # Sundays 03:00 UTC


@schedule(
    name="weekly_retrain",
    cron_schedule=WEEKLY_CRON,
    execution_timezone="UTC",
    job=variant_job,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Every Sunday: one variant_job run per main (variant, seed) partition; the report follows by automation",
)
def weekly_retrain(context: ScheduleEvaluationContext) -> list[RunRequest]:
    """One run request per partition; the run key holds the week, so a tick is never launched twice."""
    week = context.scheduled_execution_time.date().isoformat()
    return [
        RunRequest(partition_key=key, run_key=f"{key}@{week}", tags={"hybridrec/trigger": "weekly_retrain"})
        for key in RUN_PARTITIONS.get_partition_keys()
        if variant_and_seed(key)[0] in MAIN_VARIANTS
    ]
