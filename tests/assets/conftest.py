"""Real Dagster materializations against a temporary instance, DuckDB file, artifacts folder and MLflow store."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from hybridrec_assets.definitions import defs
from hybridrec_assets.resources import ArtifactStore, DataSource, Tracker, Warehouse

ALL_ASSETS = list(defs.assets)


@dataclass
class Env:
    root: Path
    instance: DagsterInstance
    resources: dict

    @property
    def tracker(self) -> Tracker:
        return self.resources["tracker"]

    def materialize(self, selection, partition_key: str | None = None, run_config: dict | None = None, **kwargs):
        return materialize(
            ALL_ASSETS,
            selection=selection,
            partition_key=partition_key,
            instance=self.instance,
            resources=self.resources,
            run_config=run_config,
            **kwargs,
        )


def make_env(root: Path, **source: object) -> Env:
    root.mkdir(parents=True, exist_ok=True)
    resources = {
        "warehouse": Warehouse(database=str(root / "warehouse.duckdb")),
        "store": ArtifactStore(root=str(root / "artifacts")),
        "tracker": Tracker(tracking_uri=f"sqlite:///{root / 'mlruns.db'}"),
        "source": DataSource(data_dir=str(root / "source"), synthetic_scale="tiny", **source),
    }
    (root / "dagster_home").mkdir()
    instance = DagsterInstance.local_temp(tempdir=str(root / "dagster_home"))
    return Env(root, instance, resources)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """The data assets of the `tiny` dataset, materialized once; tests copy the warehouse."""
    env = make_env(tmp_path_factory.mktemp("tiny_data"))
    result = env.materialize(AssetSelection.groups("data"))
    assert result.success
    return Path(env.resources["warehouse"].database)


@pytest.fixture
def env_with_data(tiny_data, tmp_path) -> Env:
    env = make_env(tmp_path)
    shutil.copy(tiny_data, env.resources["warehouse"].database)
    return env
