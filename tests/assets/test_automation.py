"""The source sensor, the weekly schedule and the automation conditions, through Dagster's testing utilities."""

import os
from datetime import datetime, timezone
from pathlib import Path

from dagster import (
    AssetMaterialization,
    AssetSelection,
    DagsterInstance,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
)

from hybridrec_assets.definitions import defs
from hybridrec_assets.partitions import RUN_PARTITIONS
from hybridrec_assets.resources import DataSource
from hybridrec_assets.defs.model.schedules import weekly_retrain
from hybridrec_assets.defs.data.sensors import source_files_changed
from hybridrec_ml.config import MAIN_VARIANTS, VARIANTS
from hybridrec_ml.data.sources.fingerprints import content_key, hash_files

DATA_ASSETS = [
    "context_features", "eval_negatives", "interactions_5core", "item_tfidf", "raw_items", "raw_reviews",
    "recbole_export", "temporal_split", "user_sequences",
]  # fmt: skip
REPOSITORY = defs.get_repository_def()


T0 = 1_700_000_000_000_000_000  # a settled mtime (ns)


def put(path: Path, payload: bytes, mtime_ns: int = T0) -> Path:
    path.write_bytes(payload)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def amazon_source(tmp_path: Path) -> tuple[DataSource, Path, Path]:
    reviews = put(tmp_path / "Electronics_5.json.gz", b"reviews v1")
    meta = put(tmp_path / "meta_Electronics.json.gz", b"meta v1")
    source = DataSource(kind="amazon2018", data_dir=str(tmp_path / "data"), reviews_path=str(reviews), meta_path=str(meta))
    return source, reviews, meta


class Sensor:
    """Ticks of source_files_changed against one instance, carrying the cursor like the daemon does."""

    def __init__(self, source: DataSource):
        self.source, self.cursor, self.instance = source, None, DagsterInstance.ephemeral()

    def tick(self):
        context = build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"source": self.source}, repository_def=REPOSITORY
        )
        result = source_files_changed.evaluate_tick(context)
        self.cursor = result.cursor or self.cursor
        return result

    def settled_tick(self):
        """Files just written are hashed on the look after the one that saw them move."""
        self.tick()
        return self.tick()

    def warehouse_built_from(self, *files: Path) -> str:
        key = content_key(hash_files(files))
        self.instance.report_runless_asset_event(AssetMaterialization("raw_reviews", metadata={"source_key": key}))
        return key


def test_sensor_runs_the_data_job():
    assert source_files_changed.job_name == "data_job"


def test_new_files_request_one_run_once_they_settled(tmp_path):
    source, reviews, meta = amazon_source(tmp_path)
    sensor = Sensor(source)

    first = sensor.tick()
    second = sensor.tick()

    assert first.run_requests == []
    assert first.skip_message == f"waiting for file(s) to settle: {reviews}, {meta}"
    [request] = second.run_requests
    key = content_key(hash_files([reviews, meta]))
    assert request.run_key == f"source-none-to-{key}"
    assert request.tags["hybridrec/trigger"] == "source_files_changed"
    assert request.tags["hybridrec/source_key"] == key


def test_a_warehouse_built_from_these_files_is_left_alone_even_after_a_touch(tmp_path):
    source, reviews, meta = amazon_source(tmp_path)
    sensor = Sensor(source)
    key = sensor.warehouse_built_from(reviews, meta)

    assert sensor.settled_tick().skip_message == f"the warehouse holds these files (source key {key})"
    os.utime(reviews, ns=(T0 + 10**9, T0 + 10**9))
    touched = sensor.settled_tick()
    assert touched.run_requests == []
    assert touched.skip_message == f"the warehouse holds these files (source key {key})"


def test_changed_and_reverted_content_are_each_a_new_transition(tmp_path):
    source, reviews, meta = amazon_source(tmp_path)
    sensor = Sensor(source)
    key_a = sensor.warehouse_built_from(reviews, meta)

    put(meta, b"meta v2", T0 + 1)
    [to_b] = sensor.settled_tick().run_requests
    key_b = sensor.warehouse_built_from(reviews, meta)
    put(meta, b"meta v1", T0 + 2)
    [back_to_a] = sensor.settled_tick().run_requests

    assert to_b.run_key == f"source-{key_a}-to-{key_b}"
    assert back_to_a.run_key == f"source-{key_b}-to-{key_a}"


def test_missing_files_and_generated_sources_are_skipped_with_the_reason(tmp_path):
    source, reviews, _ = amazon_source(tmp_path)
    reviews.unlink()

    assert Sensor(source).tick().skip_message == f"waiting for missing source file(s): {reviews}"
    assert Sensor(DataSource(data_dir=str(tmp_path))).tick().skip_message == (
        "source 'synthetic' has no local input files to watch (generated or downloaded by the ingest)"
    )


def test_weekly_schedule_requests_every_variant_seed_partition_once_per_week():
    context = build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 29, 3, tzinfo=timezone.utc), repository_def=REPOSITORY
    )

    requests = weekly_retrain.evaluate_tick(context).run_requests

    keys = [key for key in RUN_PARTITIONS.get_partition_keys() if key.split("|")[1] in MAIN_VARIANTS]
    assert len(keys) == 42  # the main set: 14 variants (8 of the study, hybrid_plus, oracle, 4 field baselines) x 3 seeds
    assert len(RUN_PARTITIONS.get_partition_keys()) == 3 * len(VARIANTS) > 42  # the collapse experiments run on demand
    assert [r.partition_key for r in requests] == keys
    assert [r.run_key for r in requests] == [f"{key}@2026-11-29" for key in keys]
    assert weekly_retrain.job_name == "variant_job"


def test_evaluation_follows_training_and_training_follows_new_data():
    """Each automation sensor evaluates its own assets, as the daemon does."""
    instance = DagsterInstance.ephemeral()
    sensors = {"follow_upstream": AssetSelection.groups("evaluation", "serving", "report"), "retrain": AssetSelection.groups("model")}
    cursors = {}

    def report(asset: str, partition: str | None = None) -> None:
        instance.report_runless_asset_event(AssetMaterialization(asset_key=asset, partition=partition))

    def tick(sensor: str) -> dict[str, set[str | None]]:
        result = evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=sensors[sensor], cursor=cursors.get(sensor)
        )
        cursors[sensor] = result.cursor
        return {
            key.to_user_string(): result.get_requested_partitions(key)
            for key in defs.resolve_asset_graph().get_all_asset_keys()
            if result.get_num_requested(key)
        }

    for asset in DATA_ASSETS:
        report(asset)
    assert tick("follow_upstream") == {} and tick("retrain") == {}  # nothing runs merely because it is missing

    report("trained_model", "42|v2")
    assert tick("retrain") == {}  # its own update does not retrain it
    # Requested together, so the daemon runs them as one run of that partition, in graph order.
    assert tick("follow_upstream") == {"evaluation": {"42|v2"}, "segment_report": {"42|v2"}, "recommendations": {"42|v2"}}

    report("evaluation", "42|v2")
    report("segment_report", "42|v2")
    report("recommendations", "42|v2")
    assert tick("follow_upstream") == {"results_report": {None}}

    report("item_tfidf")
    assert tick("retrain") == {"trained_model": {"42|v2"}}  # only the partition that was trained before
    assert tick("follow_upstream") == {}  # evaluation waits for the retrained model

    report("trained_model", "42|v2")
    assert tick("follow_upstream") == {"evaluation": {"42|v2"}, "segment_report": {"42|v2"}, "recommendations": {"42|v2"}}
    for asset in ("evaluation", "segment_report", "recommendations"):
        report(asset, "42|v2")
    tick("follow_upstream")  # the report after the settled evaluation
    report("eval_negatives")  # e.g. drawn again with `mask: train_only`
    assert tick("retrain") == {}  # the models never read the negatives
    assert tick("follow_upstream") == {"evaluation": {"42|v2"}, "segment_report": {"42|v2"}}
