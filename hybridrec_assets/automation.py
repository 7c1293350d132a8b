"""Declarative automation: which assets follow their upstream by themselves, and when, and the two sensors that evaluate it.

Cheap follow-ups (evaluation after training, the report after evaluations) are eager. Retraining
after new data is expensive (every variant × seed partition), so it has its own sensor, off by
default, that a user switches on together with `source_files_changed`.
"""

from dagster import AssetSelection, AutomationCondition, AutomationConditionSensorDefinition, DefaultSensorStatus

# Evaluate and segment a partition as soon as its model (or upstream result) is new.
FOLLOW_UPSTREAM = AutomationCondition.eager()

# Retrain a partition that was trained before when the data changed; never train one merely
# because it is missing (that is a backfill's job: a user who ran only some variants keeps that).
RETRAIN_ON_NEW_DATA = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & ~AutomationCondition.missing()
    & ~AutomationCondition.any_deps_missing()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("retrain on new data")

# One report after a wave of evaluations settles, not one per finished partition; partitions that
# were never evaluated (e.g. a variant left out) do not block it. Only evaluations that actually
# landed count: `any_deps_updated` would also fire on evaluations merely requested this tick, and
# the report would then run on the old results while they are being recomputed.
REPORT_WHEN_EVALUATIONS_SETTLE = (
    AutomationCondition.any_deps_match(AutomationCondition.newly_updated()).since_last_handled()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("after evaluations settle")

# Evaluation, segments and the report follow their upstream: cheap, so on by default.
follow_upstream = AutomationConditionSensorDefinition(
    "follow_upstream",
    target=AssetSelection.groups("evaluation", "report"),
    default_status=DefaultSensorStatus.RUNNING,
    description="Evaluates a partition after its model is retrained; rewrites the report after evaluations settle",
)
# Retraining every trained partition after new data is expensive: off until the user switches it on.
retrain_on_new_data = AutomationConditionSensorDefinition(
    "retrain_on_new_data",
    target=AssetSelection.groups("model"),
    default_status=DefaultSensorStatus.STOPPED,
    description="Retrains every already-trained (variant, seed) partition after the data layer changed",
)
