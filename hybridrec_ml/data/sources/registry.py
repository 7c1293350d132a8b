"""The registry of data sources: how each kind's files are obtained, and which reader fills the raw tables.

Every source ends in the same `raw_reviews` / `raw_items` / `quarantine` tables, so the ingest
asset needs only two calls: `resolve_source_files` (generate, find or download the files) and
`ingest_source` (run the source's reader on them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import unquote, urlsplit

import duckdb

from hybridrec_ml.data.sources.amazon2018 import ingest_amazon2018
from hybridrec_ml.data.sources.amazon2023 import ingest_amazon2023
from hybridrec_ml.data.sources.download import Progress, download
from hybridrec_ml.data.sources.line_reader import LineLimits, SourceFileError
from hybridrec_ml.data.sources.movielens import detect_movielens_layout, ingest_movielens
from hybridrec_ml.data.sources.parsed_lines import IngestReport
from hybridrec_ml.data.synthetic.generator import DEFAULT_MIXTURE, SyntheticScale, generate_synthetic, ground_truth_build
from hybridrec_ml.data.synthetic.truth import PLANTED_ROLES, planted_builds
from hybridrec_ml.data.warehouse import schema


@dataclass(frozen=True)
class RemoteFile:
    """Where a source file can be downloaded from (URLs move: always configured, never built in)."""

    url: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class SyntheticOptions:
    """Arguments of `generate_synthetic`; the output bytes depend only on these."""

    scale: str | SyntheticScale = "demo"
    seed: int = 0
    category: str = "Electronics"
    day_granular: bool = False  # True floors timestamps to 00:00 UTC, as in Amazon 2018
    mixture: str = DEFAULT_MIXTURE  # synthetic.MIXTURES: mechanism shares per context bucket


@dataclass(frozen=True)
class SourceSpec:
    """One source kind: the files its reader takes (roles, in call order) and how they are obtained."""

    kind: str
    description: str
    roles: tuple[str, ...]
    obtain: Literal["generate", "local_or_download", "local"]
    reader: Callable[..., IngestReport]


def _ingest_synthetic(
    con: duckdb.DuckDBPyConnection, reviews: Path, meta: Path, ground_truth: Path, *planted: Path, limits: LineLimits
) -> IngestReport:
    """Synthetic files are Amazon 2018 files plus the planted truth, swapped in with the raw tables."""
    truth = [ground_truth_build(ground_truth), *planted_builds(dict(zip(PLANTED_ROLES, planted, strict=True)))]
    return ingest_amazon2018(con, reviews, meta, with_tables=truth, limits=limits)


SOURCES: dict[str, SourceSpec] = {
    spec.kind: spec
    for spec in (
        SourceSpec(
            "synthetic",
            "Seeded generator writing Amazon 2018 files with planted structure, read by the 2018 reader",
            ("reviews", "meta", "ground_truth", *PLANTED_ROLES),
            "generate",
            _ingest_synthetic,
        ),
        SourceSpec(
            "amazon2018",
            "Amazon Reviews 2018: <category>_5.json.gz reviews + meta_<category>.json.gz metadata",
            ("reviews", "meta"),
            "local_or_download",
            ingest_amazon2018,
        ),
        SourceSpec(
            "amazon2023",
            "Amazon Reviews 2023: <category>.jsonl(.gz) reviews + meta_<category>.jsonl(.gz) metadata",
            ("reviews", "meta"),
            "local_or_download",
            ingest_amazon2023,
        ),
        SourceSpec(
            "movielens",
            "An extracted MovieLens folder (ML-100K, ML-1M or ML-20M/25M)",
            ("folder",),
            "local",
            ingest_movielens,
        ),
    )
}


def source_spec(kind: str) -> SourceSpec:
    """The registered spec for `kind`; a clear error lists the valid kinds."""
    if kind not in SOURCES:
        raise ValueError(f"unknown source kind {kind!r}; valid kinds: {', '.join(SOURCES)}")
    return SOURCES[kind]


def resolve_source_files(
    kind: str,
    data_dir: Path,
    *,
    paths: Mapping[str, str | Path] | None = None,
    remote: Mapping[str, RemoteFile] | None = None,
    synthetic: SyntheticOptions = SyntheticOptions(),
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Role -> local path of every file `kind`'s reader takes, generating or downloading into `data_dir`.

    synthetic: `synthetic` options drive the generator. amazon2018 / amazon2023: per role, a local
    path from `paths`, else a download of `remote[role]` into `data_dir/<role>/` (resumed and verified,
    and skipped when already there; a folder per role, so two URLs ending in the same file name
    never overwrite each other). movielens: `paths["folder"]` only.
    """
    spec = source_spec(kind)
    paths, remote = dict(paths or {}), dict(remote or {})
    for given, what in ((paths, "paths"), (remote, "remote")):
        unknown = sorted(set(given) - set(spec.roles))
        if unknown:
            raise ValueError(f"{kind}: unknown file role(s) {unknown} in {what}; roles: {', '.join(spec.roles)}")
    if spec.obtain == "generate":
        if paths or remote:
            raise ValueError(f"{kind}: files are generated; pass `synthetic` options, not paths or URLs")
        files = generate_synthetic(
            synthetic.scale, Path(data_dir), seed=synthetic.seed, category=synthetic.category,
            day_granular=synthetic.day_granular, mixture=synthetic.mixture,
        )
        return {"reviews": files.reviews, "meta": files.meta, "ground_truth": files.ground_truth, **files.planted}
    if spec.obtain == "local" and remote:
        raise ValueError(f"{kind}: files are read from a local path only; remote: {sorted(remote)}")
    resolved: dict[str, Path] = {}
    for role in spec.roles:
        if role in paths:
            path = Path(paths[role])
            if not path.exists():
                raise SourceFileError(f"{path}: {kind} {role} not found")
            resolved[role] = path
        elif role in remote:
            source = remote[role]
            resolved[role] = download(
                source.url, Path(data_dir) / role / _file_name(source.url), expected_size=source.size,
                sha256=source.sha256, progress=progress,
            )
        else:
            how = "a local path or a remote URL" if spec.obtain == "local_or_download" else "a local path"
            raise SourceFileError(f"{kind}: no file for {role!r}; give {how}")
    return resolved


def watched_source_files(kind: str, *, paths: Mapping[str, str | Path] | None = None) -> list[Path]:
    """The local input files whose change means new data, in role order.

    Generated (synthetic) files and downloads are written by the ingest itself, so they are not
    watched; a file that changes at its URL is not noticed (a verified download on disk is kept).
    A MovieLens folder counts only its layout's ratings and movies files; a folder without one is
    returned as it is, so that a watcher waits for it.
    """
    spec = source_spec(kind)
    if spec.obtain == "generate":
        return []
    watched: list[Path] = []
    for role in spec.roles:
        if paths and role in paths:
            watched.extend(_input_files(Path(paths[role])))
    return watched


def _input_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    try:
        layout = detect_movielens_layout(path)
    except SourceFileError:
        return [path]
    return [path / layout.ratings_file, path / layout.movies_file]


def ingest_source(
    con: duckdb.DuckDBPyConnection, kind: str, files: Mapping[str, Path], limits: LineLimits = LineLimits()
) -> IngestReport:
    """Run `kind`'s reader on `files` (from `resolve_source_files`), rewriting the raw tables.

    `limits` bound the cost of every file (line length, bad lines) and reject one past them.

    Any other source first drops the synthetic ground truth and planted tables: an interrupted or failed ingest may
    then leave it missing, but never describing data other than the raw tables next to it.
    """
    spec = source_spec(kind)
    missing = [role for role in spec.roles if role not in files]
    if missing:
        raise ValueError(f"{kind}: missing file role(s) {missing}; roles: {', '.join(spec.roles)}")
    if spec.obtain != "generate":
        for table in (schema.GROUND_TRUTH, schema.PLANTED_USERS, schema.PLANTED_ITEMS, schema.PLANTED_STORY):
            con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()
    return spec.reader(con, *(Path(files[role]) for role in spec.roles), limits=limits)


def _file_name(url: str) -> str:
    """The download's file name: the URL's last path segment (the readers recognise files by content)."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    if not name or name in {".", ".."}:
        raise ValueError(f"{url}: no file name in the URL path")
    return name
