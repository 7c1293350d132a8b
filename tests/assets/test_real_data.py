"""Real data without code edits: a source's inputs come from HYBRIDREC_* variables or the launchpad's config.

The README's real-data quick start (`HYBRIDREC_SOURCE=movielens HYBRIDREC_SOURCE_FOLDER=... ./run.sh
pipeline`) runs here on a generated ML-1M folder, as the same subprocess, through real Dagster runs.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance

from hybridrec_assets.resources import DataSource
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.sources.line_reader import SourceFileError
from tests.assets.conftest import make_env
from tests.source_formats import ML1M_OFFSETS, write_ml1m_folder

REPO = Path(__file__).resolve().parents[2]


def _isolated_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """This checkout's code, and every store under tmp_path; no HYBRIDREC_* setting inherited from the caller."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("HYBRIDREC_")}
    return inherited | {
        "PYTHONPATH": str(REPO),
        "DAGSTER_HOME": str(home),
        "HYBRIDREC_SEEDS": "42",
        "HYBRIDREC_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "HYBRIDREC_ARTIFACTS": str(tmp_path / "artifacts"),
        "HYBRIDREC_SOURCE_DIR": str(tmp_path / "source"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}",
        **variables,
    }


def test_a_movielens_folder_runs_the_whole_graph_in_one_command(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    ratings = write_ml1m_folder(folder)
    env = _isolated_env(tmp_path, HYBRIDREC_SOURCE="movielens", HYBRIDREC_SOURCE_FOLDER=str(folder))

    done = subprocess.run(
        [sys.executable, "-m", "hybridrec_assets.pipeline", "--variants", "pop", "--workers", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800,  # a shared 2-core machine once took over 600 s
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "[2/3] 1 (variant, seed) partitions on 1 workers" in done.stdout
    assert re.search(r"^\| pop \| 1 \| 0\.\d{4} \(n=1\) \|", done.stdout, re.MULTILINE)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
        raw = instance.get_latest_materialization_event(AssetKey("raw_reviews")).asset_materialization.metadata
    assert len(runs) == 3 and all(run.is_success for run in runs)  # data, the pop partition, report
    assert (raw["source_kind"].value, raw["file_folder"].value, raw["reviews"].value) == ("movielens", str(folder), ratings)
    with duckdb.connect(env["HYBRIDREC_WAREHOUSE"], read_only=True) as con:
        counts = con.execute(
            f"SELECT count(*), count(DISTINCT user_idx), count(DISTINCT item_idx) FROM {schema.INTERACTIONS_5CORE}"
        ).fetchall()
    assert counts == [(150 * len(ML1M_OFFSETS), 150, 150)]  # the circulant table is its own 5-core


def test_a_bad_environment_value_fails_the_code_location_load_with_the_valid_values(tmp_path: Path) -> None:
    env = _isolated_env(tmp_path, HYBRIDREC_SOURCE="movielns")

    done = subprocess.run(
        [sys.executable, "-c", "import hybridrec_assets.definitions"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )

    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "ValueError: bad data source settings in the environment: HYBRIDREC_SOURCE: unknown source kind "
        "'movielns'; valid kinds: synthetic, amazon2018, amazon2023, movielens"
    )


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"HYBRIDREC_SCALE": "huge"}, "HYBRIDREC_SCALE: unknown synthetic scale 'huge'; valid scales: tiny, demo, full"),
        ({"HYBRIDREC_DAY_GRANULAR": "yes"}, "HYBRIDREC_DAY_GRANULAR='yes': valid values: 0, 1, false, true"),
        ({"HYBRIDREC_SYNTHETIC_SEED": "-1"}, "HYBRIDREC_SYNTHETIC_SEED='-1': must be a non-negative integer"),
        (
            {"HYBRIDREC_SOURCE": "amazon2018", "HYBRIDREC_SOURCE_FOLDER": "/data/ml-1m"},
            "HYBRIDREC_SOURCE: source 'amazon2018' does not read folder; its file settings: reviews_path, "
            "meta_path, reviews_url, meta_url, reviews_sha256, meta_sha256",
        ),
        (
            {"HYBRIDREC_REVIEWS_PATH": "/data/Electronics_5.json.gz"},
            "HYBRIDREC_SOURCE: source 'synthetic' does not read reviews_path; its file settings: none (the files "
            "are generated)",
        ),
    ],
)
def test_bad_environment_values_name_the_variable_and_the_valid_values(variables: dict, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        DataSource.from_env(variables)
    assert str(raised.value).endswith(message)


def test_every_source_input_has_an_environment_variable(tmp_path: Path) -> None:
    reviews = tmp_path / "r.json.gz"
    amazon = DataSource.from_env(
        {
            "HYBRIDREC_SOURCE": "amazon2023",
            "HYBRIDREC_SOURCE_DIR": str(tmp_path / "downloads"),
            "HYBRIDREC_REVIEWS_PATH": str(reviews),
            "HYBRIDREC_META_URL": "https://example.org/meta.jsonl.gz",
            "HYBRIDREC_META_SHA256": "ab" * 32,
        }
    )
    remote = DataSource.from_env({"HYBRIDREC_SOURCE": "amazon2018", "HYBRIDREC_REVIEWS_URL": "https://example.org/r.gz"})
    synthetic = DataSource.from_env(
        {"HYBRIDREC_SCALE": "tiny", "HYBRIDREC_SYNTHETIC_SEED": "7", "HYBRIDREC_DAY_GRANULAR": "1"}
    )

    assert (amazon.kind, amazon.data_dir, amazon.reviews_path, amazon.meta_url, amazon.meta_sha256) == (
        "amazon2023", str(tmp_path / "downloads"), str(reviews), "https://example.org/meta.jsonl.gz", "ab" * 32
    )
    assert (remote.kind, remote.reviews_url) == ("amazon2018", "https://example.org/r.gz")
    assert (synthetic.kind, synthetic.synthetic_scale, synthetic.synthetic_seed, synthetic.day_granular) == (
        "synthetic", "tiny", 7, True
    )
    assert DataSource.from_env({}) == DataSource()


def test_a_missing_input_names_the_variable_and_the_launchpad_key() -> None:
    with pytest.raises(SourceFileError) as raised:
        DataSource.from_env({"HYBRIDREC_SOURCE": "movielens"}).files()
    assert str(raised.value) == (
        "source 'movielens': no file for 'folder' (set HYBRIDREC_SOURCE_FOLDER, or in the launchpad "
        "resources.source.config.folder)"
    )


def test_the_launchpad_resource_config_switches_the_source(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    ratings = write_ml1m_folder(folder)
    env = make_env(tmp_path / "env")  # the default resource: synthetic
    launchpad = {"resources": {"source": {"config": {"kind": "movielens", "folder": str(folder)}}}}

    result = env.materialize(AssetSelection.assets("raw_reviews", "raw_items"), run_config=launchpad)

    assert result.success
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey("raw_reviews")]
    metadata = event.materialization.metadata
    assert (metadata["source_kind"].value, metadata["reviews"].value) == ("movielens", ratings)


def test_a_bad_launchpad_value_fails_the_run_with_the_valid_values(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    launchpad = {"resources": {"source": {"config": {"kind": "movielns"}}}}

    result = env.materialize(AssetSelection.assets("raw_reviews", "raw_items"), run_config=launchpad, raise_on_error=False)

    assert not result.success
    errors = [e.event_specific_data.error.to_string() for e in result.all_events if getattr(e.event_specific_data, "error", None)]
    assert any("unknown source kind 'movielns'; valid kinds: synthetic, amazon2018, amazon2023, movielens" in e for e in errors)
