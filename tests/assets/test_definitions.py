"""The code location loads, and its asset keys, checks and jobs stay what users and schedules rely on."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hybridrec_assets.definitions import default_resources, defs
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_ml.config import VARIANTS


def test_asset_keys_are_stable():
    keys = sorted(key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys())
    assert keys == [
        "collapse_report", "context_features", "eval_negatives", "evaluation", "gate_diagnosis", "interactions_5core",
        "item_tfidf", "lambda_pareto", "raw_items", "raw_reviews", "recbole_export", "recommendations", "results_report",
        "segment_report", "temporal_split", "trained_model", "user_sequences",
    ]  # fmt: skip


def test_checks_are_declared_next_to_their_assets():
    checks = sorted(
        f"{key.asset_key.to_user_string()}:{key.name}" for key in defs.resolve_asset_graph().asset_check_keys
    )
    assert checks == [
        "context_features:context_not_constant",
        "eval_negatives:indices_consistent",
        "interactions_5core:k_core_holds",
        "recommendations:recommendations_valid",
        "segment_report:gate_not_collapsed_by_segment",
        "temporal_split:no_time_leakage",
        "trained_model:gate_not_collapsed",
        "user_sequences:sequences_causal",
    ]


def test_jobs():
    names = sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__"))
    assert names == ["data_job", "report_job", "variant_job"]


def test_partitions_cover_every_variant_with_three_default_seeds():
    keys = [variant_and_seed(key) for key in RUN_PARTITIONS.get_partition_keys()]
    assert sorted(keys) == sorted((variant, seed) for variant in VARIANTS for seed in (42, 43, 44))


def test_schedules_and_sensors_with_their_default_status():
    repository = defs.get_repository_def()
    statuses = {
        definition.name: definition.default_status.value
        for definition in (*repository.schedule_defs, *repository.sensor_defs)
    }
    assert statuses == {
        "weekly_retrain": "STOPPED",
        "source_files_changed": "STOPPED",
        "follow_upstream": "RUNNING",
        "retrain_on_new_data": "STOPPED",
    }


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HYBRIDREC_SCALE", "huge", "unknown synthetic scale 'huge'; valid scales: tiny, demo, full"),
        ("HYBRIDREC_SOURCE", "amazon2014", "unknown source kind 'amazon2014'; valid kinds: synthetic, amazon2018, "
                                           "amazon2023, movielens"),
    ],
)
def test_an_invalid_source_setting_fails_when_the_definitions_load(monkeypatch, variable, value, message):
    """`default_resources()` runs as definitions.py is imported (what `dagster definitions validate` does)."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        default_resources()


HEAVY_MODULES = ("torch", "mlflow", "sklearn", "scipy", "plotly", "pandas", "fastapi", "uvicorn")


def test_loading_the_definitions_imports_none_of_the_heavy_libraries():
    """Every step subprocess and CLI call loads the definitions: the heavy stack loads in the steps that use it.

    bench/definitions_load.py times the load; this test keeps the modules that made it slow out of it.
    """
    code = "import sys, hybridrec_assets.definitions; print(' '.join(sorted(sys.modules)))"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "hybridrec_assets.definitions" in loaded
    assert sorted(loaded & set(HEAVY_MODULES)) == []
