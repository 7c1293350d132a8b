"""The source sensor, the weekly schedule and the automation conditions, through Dagster's testing utilities."""

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from dagster import (
    AssetMaterialization,
    DagsterInstance,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
)

from hybridrec_assets.definitions import defs
from hybridrec_assets.partitions import RUN_PARTITIONS
from hybridrec_assets.resources import DataSource
from hybridrec_assets.schedules import weekly_retrain
from hybridrec_assets.sensors import source_files_changed
from hybridrec_ml.data.fingerprints import content_key, fingerprint_files

DATA_ASSETS = [
    "context_features", "eval_negatives", "interactions_5core", "item_tfidf", "raw_items", "raw_reviews",
    "recbole_export", "temporal_split", "user_sequences",
]  # fmt: skip
REPOSITORY = defs.get_repository_def()


def amazon_source(tmp_path: Path) -> tuple[DataSource, Path, Path]:
    reviews, meta = tmp_path / "Electronics_5.json.gz", tmp_path / "meta_Electronics.json.gz"
    reviews.write_bytes(b"reviews v1")
    meta.write_bytes(b"meta v1")
    source = DataSource(kind="amazon2018", data_dir=str(tmp_path / "data"), reviews_path=str(reviews), meta_path=str(meta))
    return source, reviews, meta


def tick(source: DataSource, cursor: str | None = None):
    context = build_sensor_context(cursor=cursor, resources={"source": source}, repository_def=REPOSITORY)
    return source_files_changed.evaluate_tick(context)


def test_sensor_targets_the_data_assets():
    selected = source_files_changed.asset_selection.resolve(defs.resolve_asset_graph())
    assert sorted(key.to_user_string() for key in selected) == DATA_ASSETS


def test_first_look_requests_a_run_keyed_by_the_content(tmp_path):
    source, reviews, meta = amazon_source(tmp_path)

    result = tick(source)

    [request] = result.run_requests
    assert request.run_key == f"source-{content_key(fingerprint_files([reviews, meta], {}))}"
    assert request.tags["hybridrec/trigger"] == "source_files_changed"
    assert request.tags["hybridrec/changed_files"] == "2"
    assert sorted(json.loads(result.cursor)) == [str(reviews), str(meta)]


def test_unchanged_and_merely_touched_files_request_nothing(tmp_path):
    source, reviews, _ = amazon_source(tmp_path)
    first = tick(source)
    os.utime(reviews, ns=(10**18, 10**18))

    touched = tick(source, first.cursor)
    again = tick(source, touched.cursor)

    assert touched.run_requests == [] and touched.skip_message == "2 source file(s) unchanged"
    assert json.loads(touched.cursor)[str(reviews)][1] == 10**18  # the new mtime is remembered: no rehash next time
    assert again.run_requests == [] and again.cursor == touched.cursor


def test_changed_content_requests_a_new_run(tmp_path):
    source, _, meta = amazon_source(tmp_path)
    first = tick(source)
    meta.write_bytes(b"meta v2")

    second = tick(source, first.cursor)

    [request] = second.run_requests
    assert request.tags["hybridrec/changed_files"] == "1"
    assert request.run_key != first.run_requests[0].run_key


def test_missing_files_and_generated_sources_are_skipped_with_the_reason(tmp_path):
    source, reviews, _ = amazon_source(tmp_path)
    reviews.unlink()

    assert tick(source).skip_message == f"waiting for missing source file(s): {reviews}"
    assert tick(DataSource(data_dir=str(tmp_path))).skip_message == (
        "source 'synthetic' has no input files to watch (synthetic files are generated)"
    )


def test_weekly_schedule_requests_every_variant_seed_partition_once_per_week():
    context = build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 29, 3, tzinfo=timezone.utc), repository_def=REPOSITORY
    )

    requests = weekly_retrain.evaluate_tick(context).run_requests

    keys = RUN_PARTITIONS.get_partition_keys()
    assert len(keys) == 24
    assert [r.partition_key for r in requests] == keys
    assert [r.run_key for r in requests] == [f"{key}@2026-11-29" for key in keys]
    assert weekly_retrain.job_name == "variant_job"


def test_evaluation_follows_training_and_training_follows_new_data():
    instance = DagsterInstance.ephemeral()

    def report(asset: str, partition: str | None = None) -> None:
        instance.report_runless_asset_event(AssetMaterialization(asset_key=asset, partition=partition))

    def requested(result) -> dict[str, int]:
        return {
            key.to_user_string(): count
            for key in defs.resolve_asset_graph().get_all_asset_keys()
            if (count := result.get_num_requested(key))
        }

    for asset in DATA_ASSETS:
        report(asset)
    first = evaluate_automation_conditions(defs=defs, instance=instance)
    assert requested(first) == {}  # nothing trains or evaluates merely because it is missing

    report("trained_model", "42|v2")
    after_training = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    # Requested together, so the daemon runs them as one run of that partition, in graph order.
    assert requested(after_training) == {"evaluation": 1, "segment_report": 1}
    assert after_training.get_requested_partitions(defs.get_assets_def("evaluation").key) == {"42|v2"}

    report("evaluation", "42|v2")
    report("segment_report", "42|v2")
    after_evaluation = evaluate_automation_conditions(defs=defs, instance=instance, cursor=after_training.cursor)
    assert requested(after_evaluation) == {"results_report": 1}

    report("item_tfidf")
    after_new_data = evaluate_automation_conditions(defs=defs, instance=instance, cursor=after_evaluation.cursor)
    # Every partition retrains, re-evaluates and re-segments; the report waits for the results.
    assert requested(after_new_data) == {"trained_model": 24, "evaluation": 24, "segment_report": 24}
