"""Small configurable resources: the DuckDB warehouse, the artifacts folder, MLflow tracking, the data source.

Settings come from resource config (or `EnvVar`s in `definitions.py`), never module globals, so a
test points every one of them at a temporary folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from hybridrec_ml.atomic import atomic_write_text
from hybridrec_ml.locks import exclusive
from hybridrec_ml.data.sources.line_reader import LineLimits, SourceFileError
from hybridrec_ml.data.sources.registry import (
    SOURCES,
    RemoteFile,
    SyntheticOptions,
    resolve_source_files,
    source_spec,
    watched_source_files,
)
from hybridrec_ml.data.synthetic.generator import DEFAULT_MIXTURE, MIXTURES, SCALES

if TYPE_CHECKING:  # mlflow and torch load in the steps that use them, not with the definitions
    from mlflow.tracking import MlflowClient


class Warehouse(ConfigurableResource):
    """The one DuckDB file. Writers are serialised by the `duckdb_writer` pool; readers open read-only.

    dagster-duckdb's `get_connection()` always opens read-write (an exclusive cross-process lock),
    so parallel training and evaluation steps use `reader()` instead.
    """

    database: str = Field(default="data/hybridrec.duckdb", description="Path of the DuckDB file")
    read_retry_seconds: float = Field(default=120.0, description="How long a reader waits for a writer's lock")

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with DuckDBResource(database=self.database).get_connection() as con:
            yield con

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        deadline = time.monotonic() + self.read_retry_seconds
        while True:
            try:
                con = duckdb.connect(self.database, read_only=True)
                break
            except duckdb.IOException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        try:
            yield con
        finally:
            con.close()


class ArtifactStore(ConfigurableResource):
    """The folder for checkpoints, evaluation outputs and reports; nothing is written outside it."""

    root: str = Field(default="artifacts", description="Artifacts root folder (local path)")

    def locate(self, *parts: str) -> Path:
        """Where `parts` lie under the root, creating nothing (for reads and existence checks)."""
        root = Path(self.root).resolve()
        target = root.joinpath(*parts).resolve()  # resolved, so ".." cannot climb out
        if root not in target.parents and target != root:
            raise ValueError(f"{target} is outside the artifacts root {self.root}")
        return target

    def path(self, *parts: str) -> Path:
        """Where to write `parts`: as `locate`, with the parent folder created."""
        target = self.locate(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def save_model(self, state: Mapping[str, Any], *parts: str) -> Path:
        from hybridrec_ml.training.checkpoint import save_checkpoint

        path = self.path(*parts)
        save_checkpoint(dict(state), path)
        return path

    def write_json(self, payload: Mapping[str, Any], *parts: str) -> Path:
        return atomic_write_text(self.path(*parts), json.dumps(payload, indent=2, sort_keys=True))

    def read_json(self, *parts: str) -> dict[str, Any]:
        return json.loads(self.locate(*parts).read_text())


TAKEN_OVER_BY_TAG = "hybridrec.taken_over_by"
_EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # read by MLflow 3's UI to pick the experiment's view
EXPERIMENT_KIND = {_EXPERIMENT_KIND_TAG: "custom_model_development"}  # the UI's "Model training"


class TrackedRun:
    """One MLflow run, written through the client API so no global active-run state is involved."""

    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str, ui_url: str):
        self.client, self.run_id, self.experiment_id = client, run_id, experiment_id
        self.url = f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"

    def log_params(self, params: Mapping[str, object]) -> None:
        from mlflow.entities import Param

        self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(
            self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()]
        )

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def take_over(self, previous_run_id: str) -> bool:
        """Mark a run that a killed attempt left RUNNING as KILLED, tagged with this run; whether it was one."""
        if self.client.get_run(previous_run_id).info.status != "RUNNING":
            return False
        self.client.set_tag(previous_run_id, TAKEN_OVER_BY_TAG, self.run_id)
        self.client.set_terminated(previous_run_id, "KILLED")
        return True


class Tracker(ConfigurableResource):
    """MLflow tracking in a sqlite store. Every run this opens ends FINISHED, or FAILED if the body raises.

    dagster-mlflow's resource only ends runs through a job hook, which UI materializations do not
    carry; ending the run here, around the training call, holds for UI, CLI, schedules and tests.
    """

    tracking_uri: str = Field(default="sqlite:///mlruns.db", description="MLflow tracking URI")
    experiment: str = Field(default="hybridrec", description="MLflow experiment name")
    ui_url: str = Field(default="http://127.0.0.1:5000", description="Base URL of `mlflow ui`, for links")
    artifact_location: str | None = Field(
        default=None,
        description="Where a new experiment keeps run artifacts (default: mlartifacts/ next to the sqlite file). "
        "An experiment that already exists keeps the location it was created with.",
    )

    def _artifact_location(self) -> str | None:
        """Without one, MLflow puts a sqlite store's artifacts in ./mlruns of whatever the working directory is."""
        if self.artifact_location or not self.tracking_uri.startswith("sqlite:///"):
            return self.artifact_location
        database = Path(self.tracking_uri.removeprefix("sqlite:///"))
        return (database.resolve().parent / "mlartifacts").as_uri()

    def _schema_lock(self) -> AbstractContextManager[None]:
        """Creating a client creates (migrates) the sqlite schema on first use; parallel steps must not race."""
        return exclusive(f"mlflow-schema {self.tracking_uri}")

    def client(self) -> MlflowClient:
        from mlflow.tracking import MlflowClient

        with self._schema_lock():
            client = MlflowClient(tracking_uri=self.tracking_uri)
            client.search_experiments(max_results=1)  # forces the store (and its migration) now, under the lock
        return client

    def _experiment_id(self, client: MlflowClient) -> str:
        """The experiment, marked as model training: untagged, MLflow 3's UI opens its (empty) GenAI view."""
        with self._schema_lock():
            experiment = client.get_experiment_by_name(self.experiment)
            if experiment is None:
                return client.create_experiment(self.experiment, self._artifact_location(), tags=EXPERIMENT_KIND)
            if experiment.tags.get(_EXPERIMENT_KIND_TAG) is None:
                kind = EXPERIMENT_KIND[_EXPERIMENT_KIND_TAG]
                client.set_experiment_tag(experiment.experiment_id, _EXPERIMENT_KIND_TAG, kind)
            return experiment.experiment_id

    @contextmanager
    def run(self, run_name: str, tags: Mapping[str, str]) -> Iterator[TrackedRun]:
        client = self.client()
        experiment_id = self._experiment_id(client)
        created = client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        tracked = TrackedRun(client, created.info.run_id, experiment_id, self.ui_url)
        try:
            yield tracked
        except BaseException:
            client.set_terminated(tracked.run_id, "FAILED")
            raise
        client.set_terminated(tracked.run_id, "FINISHED")

    def existing(self, run_id: str) -> TrackedRun:
        """A handle on a run created earlier (e.g. evaluation adding test metrics to its training run)."""
        client = self.client()
        return TrackedRun(client, run_id, client.get_run(run_id).info.experiment_id, self.ui_url)


class DataSource(ConfigurableResource):
    """Where the raw data comes from: the embedded synthetic generator (default) or the user's files.

    Every field can be set from a HYBRIDREC_* environment variable (`SOURCE_ENV`, read by
    `from_env`) or from the launchpad's resource config (`resources: source: config: ...`). A bad
    value fails when the resource is built (code location load, or run start) with the valid values.
    """

    kind: str = Field(default="synthetic", description=f"One of: {', '.join(SOURCES)}")
    data_dir: str = Field(default="data/source", description="Folder for generated or downloaded files")
    synthetic_scale: str = Field(default="demo", description=f"Synthetic: one of {', '.join(SCALES)}")
    synthetic_seed: int = Field(default=0, description="Synthetic: generator seed")
    day_granular: bool = Field(default=False, description="Synthetic: timestamps at 00:00 UTC, as in Amazon 2018")
    synthetic_mixture: str = Field(
        default=DEFAULT_MIXTURE, description="Synthetic: mechanism mixture per context bucket (contrast | balanced)"
    )
    max_line_bytes: int = Field(default=LineLimits.max_line_bytes, description="Longer lines: line_too_long")
    max_bad_lines: int = Field(default=LineLimits.max_bad_lines, description="More bad lines reject a file")
    max_bad_share: float = Field(default=LineLimits.max_bad_share, description="A larger bad share rejects a file")
    reviews_path: str | None = Field(default=None, description="amazon2018 / amazon2023: local reviews file")
    meta_path: str | None = Field(default=None, description="amazon2018 / amazon2023: local metadata file")
    folder: str | None = Field(default=None, description="movielens: the extracted dataset folder")
    reviews_url: str | None = Field(default=None, description="amazon2018 / amazon2023: reviews download URL")
    meta_url: str | None = Field(default=None, description="amazon2018 / amazon2023: metadata download URL")
    reviews_sha256: str | None = Field(default=None, description="Expected sha256 of the reviews download")
    meta_sha256: str | None = Field(default=None, description="Expected sha256 of the metadata download")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        source_spec(kind)  # raises with the valid kinds
        return kind

    @field_validator("synthetic_scale", "synthetic_mixture")
    @classmethod
    def _known_synthetic_setting(cls, value: str, info: ValidationInfo) -> str:
        what, valid = {"synthetic_scale": ("scale", SCALES), "synthetic_mixture": ("mixture", MIXTURES)}[info.field_name]
        if value not in valid:
            raise ValueError(f"unknown synthetic {what} {value!r}; valid {what}s: {', '.join(valid)}")
        return value

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> DataSource:
        """A file setting the chosen kind never reads is a mistake (e.g. `folder` with amazon2018)."""
        foreign = [name for name, role in _FILE_FIELDS.items() if getattr(self, name) and role not in self._roles()]
        if foreign:
            fitting = [name for name, role in _FILE_FIELDS.items() if role in self._roles()]
            raise ValueError(
                f"source {self.kind!r} does not read {', '.join(foreign)}; "
                f"its file settings: {', '.join(fitting) or 'none (the files are generated)'}"
            )
        return self

    def _roles(self) -> tuple[str, ...]:
        """The reader roles a user supplies files for (none when the files are generated)."""
        spec = source_spec(self.kind)
        return () if spec.obtain == "generate" else spec.roles

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DataSource:
        """The resource configured by the HYBRIDREC_* variables of `environ` (unset ones keep the defaults).

        An error names the environment variable and lists the valid values.
        """
        values: dict[str, object] = {}
        for variable, name in SOURCE_ENV.items():
            raw = environ.get(variable)
            if raw is None or raw == "":
                continue
            if name == "day_granular":
                if raw not in _BOOLEAN:
                    raise ValueError(f"{variable}={raw!r}: valid values: {', '.join(_BOOLEAN)}")
                values[name] = _BOOLEAN[raw]
            elif name == "synthetic_seed":
                if not raw.isdigit():
                    raise ValueError(f"{variable}={raw!r}: must be a non-negative integer")
                values[name] = int(raw)
            else:
                values[name] = raw
        try:
            return cls(**values)
        except ValidationError as error:
            # a field's error names its variable; a whole-model one (settings vs kind) names the kind's
            problems = "; ".join(
                f"{_FIELD_VARIABLE.get(str(e['loc'][0]) if e['loc'] else 'kind')}: "
                f"{str(e['msg']).removeprefix('Value error, ')}"
                for e in error.errors()
            )
            raise ValueError(f"bad data source settings in the environment: {problems}") from None

    def limits(self) -> LineLimits:
        return LineLimits(self.max_line_bytes, self.max_bad_lines, self.max_bad_share)

    def _paths(self) -> dict[str, str]:
        roles = (("reviews", self.reviews_path), ("meta", self.meta_path), ("folder", self.folder))
        return {role: value for role, value in roles if value}

    def _remote(self) -> dict[str, RemoteFile]:
        urls = (("reviews", self.reviews_url, self.reviews_sha256), ("meta", self.meta_url, self.meta_sha256))
        return {role: RemoteFile(url, sha) for role, url, sha in urls if url and role not in self._paths()}

    def files(self, progress=None) -> dict[str, Path]:
        """Every file the source's reader takes, generated or downloaded into data_dir when needed."""
        given = self._paths().keys() | self._remote().keys()
        missing = [role for role in self._roles() if role not in given]
        if missing:
            ways = {
                role: [name for name, fed in _FILE_FIELDS.items() if fed == role and not name.endswith("sha256")]
                for role in missing
            }
            raise SourceFileError(
                f"source {self.kind!r}: no file for "
                + "; ".join(
                    f"{role!r} (set {' or '.join(_FIELD_VARIABLE[name] for name in names)}, or in the launchpad "
                    f"{' or '.join(f'resources.source.config.{name}' for name in names)})"
                    for role, names in ways.items()
                )
            )
        options = SyntheticOptions(
            scale=self.synthetic_scale, seed=self.synthetic_seed, day_granular=self.day_granular,
            mixture=self.synthetic_mixture,
        )
        return resolve_source_files(
            self.kind, Path(self.data_dir), paths=self._paths(), remote=self._remote(), synthetic=options,
            progress=progress,
        )

    def watched_files(self) -> list[Path]:
        """The input files the source sensor fingerprints (none for the synthetic generator)."""
        return watched_source_files(self.kind, paths=self._paths())


# Environment variable -> DataSource field. `definitions.py` builds the default resource from these.
SOURCE_ENV: dict[str, str] = {
    "HYBRIDREC_SOURCE": "kind",
    "HYBRIDREC_SOURCE_DIR": "data_dir",
    "HYBRIDREC_SCALE": "synthetic_scale",
    "HYBRIDREC_SYNTHETIC_SEED": "synthetic_seed",
    "HYBRIDREC_DAY_GRANULAR": "day_granular",
    "HYBRIDREC_MIXTURE": "synthetic_mixture",
    "HYBRIDREC_SOURCE_FOLDER": "folder",
    "HYBRIDREC_REVIEWS_PATH": "reviews_path",
    "HYBRIDREC_META_PATH": "meta_path",
    "HYBRIDREC_REVIEWS_URL": "reviews_url",
    "HYBRIDREC_META_URL": "meta_url",
    "HYBRIDREC_REVIEWS_SHA256": "reviews_sha256",
    "HYBRIDREC_META_SHA256": "meta_sha256",
}
_FIELD_VARIABLE = {name: variable for variable, name in SOURCE_ENV.items()}
# File settings -> the reader role they feed.
_FILE_FIELDS = {
    "reviews_path": "reviews", "meta_path": "meta", "folder": "folder",
    "reviews_url": "reviews", "meta_url": "meta", "reviews_sha256": "reviews", "meta_sha256": "meta",
}  # fmt: skip
_BOOLEAN = {"0": False, "1": True, "false": False, "true": True}
