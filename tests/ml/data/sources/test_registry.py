"""The source registry: each kind's files are obtained and routed to its reader."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from hybridrec_ml.data.sources.line_reader import SourceFileError
from hybridrec_ml.data.sources.registry import (
    RemoteFile,
    SyntheticOptions,
    ingest_source,
    resolve_source_files,
    source_spec,
    watched_source_files,
)
from hybridrec_ml.data.synthetic.generator import MIXTURES, SyntheticScale
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import table_exists

SMALL_WORLD = SyntheticScale(n_users=30, n_items=60, n_interactions=300, n_topics=2, max_user_interactions=20)


def _rows(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> list[tuple]:
    return con.execute(f"SELECT {schema.column_list(columns)} FROM {table} ORDER BY line_no").fetchall()


def test_unknown_kind_lists_the_valid_kinds(tmp_path: Path) -> None:
    message = "unknown source kind 'amazon2014'; valid kinds: synthetic, amazon2018, amazon2023, movielens"
    with pytest.raises(ValueError) as error:
        source_spec("amazon2014")
    assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        resolve_source_files("amazon2014", tmp_path)
    assert str(error.value) == message


def test_synthetic_files_are_generated_and_read_with_their_ground_truth(tmp_path: Path) -> None:
    files = resolve_source_files("synthetic", tmp_path, synthetic=SyntheticOptions(scale=SMALL_WORLD, seed=3))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))

    report = ingest_source(con, "synthetic", files)

    assert files == {
        "reviews": tmp_path / "Electronics_5.json.gz",
        "meta": tmp_path / "meta_Electronics.json.gz",
        "ground_truth": tmp_path / "ground_truth_Electronics.csv.gz",
        "planted_users": tmp_path / "planted_users_Electronics.csv.gz",
        "planted_items": tmp_path / "planted_items_Electronics.csv.gz",
        "planted_story": tmp_path / "planted_story_Electronics.csv.gz",
    }
    with gzip.open(files["reviews"], "rt") as lines:
        pairs = {(record["reviewerID"], record["asin"]) for record in map(json.loads, lines)}
    assert (report.review_lines, report.reviews) == (300, len(pairs))
    assert con.execute(f"SELECT count(*) FROM {schema.RAW_REVIEWS}").fetchall() == [(len(pairs),)]
    assert con.execute(f"SELECT count(*) FROM {schema.GROUND_TRUTH}").fetchall() == [(300,)]
    assert con.execute(f"SELECT count(*) FROM {schema.PLANTED_USERS}").fetchall() == [(SMALL_WORLD.n_users,)]
    assert con.execute(f"SELECT count(*) FROM {schema.PLANTED_ITEMS}").fetchall() == [(SMALL_WORLD.n_items,)]
    story = dict(con.execute(f"SELECT name, value FROM {schema.PLANTED_STORY}").fetchall())
    assert story["mixture_weekend_static"] == MIXTURES["contrast"]["weekend"][0] == 0.96


def test_amazon2023_files_are_downloaded_and_read(served_dir: tuple[Path, str], tmp_path: Path) -> None:
    folder, base_url = served_dir
    reviews = gzip.compress(
        b'{"rating": 4.0, "parent_asin": "P1", "asin": "V1", "user_id": "U1", "timestamp": 1588687728923,'
        b' "helpful_vote": 1, "verified_purchase": true}\n',
        mtime=0,
    )
    meta = b'{"parent_asin": "P1", "title": "Cable", "categories": ["Electronics"], "store": "Anker", "price": 9.5}\n'
    (folder / "Electronics.jsonl.gz").write_bytes(reviews)
    (folder / "meta_Electronics.jsonl").write_bytes(meta)
    data_dir = tmp_path / "data"
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(f"CREATE TABLE {schema.GROUND_TRUTH} {schema.ddl(schema.GROUND_TRUTH_COLUMNS)}")  # stale, synthetic
    con.execute(f"CREATE TABLE {schema.PLANTED_ITEMS} {schema.ddl(schema.PLANTED_ITEMS_COLUMNS)}")

    files = resolve_source_files(
        "amazon2023",
        data_dir,
        remote={
            "reviews": RemoteFile(f"{base_url}/Electronics.jsonl.gz", sha256=hashlib.sha256(reviews).hexdigest()),
            "meta": RemoteFile(f"{base_url}/meta_Electronics.jsonl", size=len(meta)),
        },
    )
    ingest_source(con, "amazon2023", files)

    assert files == {
        "reviews": data_dir / "reviews" / "Electronics.jsonl.gz", "meta": data_dir / "meta" / "meta_Electronics.jsonl"
    }
    assert _rows(con, schema.RAW_REVIEWS, schema.RAW_REVIEWS_COLUMNS) == [
        ("U1", "P1", 4.0, 1588687728, True, 1, "Electronics.jsonl.gz", 1)
    ]
    assert _rows(con, schema.RAW_ITEMS, schema.RAW_ITEMS_COLUMNS) == [
        ("P1", "Cable", None, None, "Electronics", "Anker", 9.5, "meta_Electronics.jsonl", 1)
    ]
    assert not table_exists(con, schema.GROUND_TRUTH)
    assert not table_exists(con, schema.PLANTED_ITEMS)


def test_urls_with_the_same_file_name_download_to_one_file_per_role(
    served_dir: tuple[Path, str], tmp_path: Path
) -> None:
    folder, base_url = served_dir
    for role in ("reviews", "meta"):
        (folder / role).mkdir()
        (folder / role / "data.json.gz").write_bytes(gzip.compress(f"{role}\n".encode(), mtime=0))

    files = resolve_source_files(
        "amazon2018", tmp_path / "data", remote={role: RemoteFile(f"{base_url}/{role}/data.json.gz") for role in
                                                  ("reviews", "meta")}
    )

    assert files == {role: tmp_path / "data" / role / "data.json.gz" for role in ("reviews", "meta")}
    assert [gzip.decompress(files[role].read_bytes()) for role in ("reviews", "meta")] == [b"reviews\n", b"meta\n"]


def test_amazon2018_local_files_are_read(tmp_path: Path) -> None:
    reviews, meta = tmp_path / "Electronics_5.json.gz", tmp_path / "meta_Electronics.json.gz"
    review = b'{"overall": 5.0, "verified": true, "reviewerID": "A1", "asin": "B1", "unixReviewTime": 86400}\n'
    reviews.write_bytes(gzip.compress(review))
    meta.write_bytes(gzip.compress(b'{"asin": "B1", "title": "Mouse", "category": ["Electronics", "Mice"]}\n'))
    con = duckdb.connect()

    files = resolve_source_files("amazon2018", tmp_path / "unused", paths={"reviews": str(reviews), "meta": meta})
    ingest_source(con, "amazon2018", files)

    assert files == {"reviews": reviews, "meta": meta}
    assert _rows(con, schema.RAW_REVIEWS, schema.RAW_REVIEWS_COLUMNS) == [
        ("A1", "B1", 5.0, 86400, True, None, "Electronics_5.json.gz", 1)
    ]
    assert _rows(con, schema.RAW_ITEMS, schema.RAW_ITEMS_COLUMNS) == [
        ("B1", "Mouse", None, None, "Electronics | Mice", None, None, "meta_Electronics.json.gz", 1)
    ]


def test_movielens_reads_a_local_folder_only(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::10::4::978300760\n")
    (tmp_path / "movies.dat").write_text("10::GoldenEye (1995)::Action|Adventure|Thriller\n")
    con = duckdb.connect()

    report = ingest_source(con, "movielens", resolve_source_files("movielens", tmp_path, paths={"folder": tmp_path}))

    assert (report.reviews, report.items) == (1, 1)
    with pytest.raises(ValueError) as error:
        resolve_source_files("movielens", tmp_path, remote={"folder": RemoteFile("http://127.0.0.1:9/ml-1m.zip")})
    assert str(error.value) == "movielens: files are read from a local path only; remote: ['folder']"


def test_missing_or_unknown_roles_are_reported(tmp_path: Path) -> None:
    reviews = tmp_path / "Electronics_5.json.gz"
    reviews.write_bytes(b"")

    with pytest.raises(SourceFileError) as error:
        resolve_source_files("amazon2018", tmp_path, paths={"reviews": reviews})
    assert str(error.value) == "amazon2018: no file for 'meta'; give a local path or a remote URL"

    with pytest.raises(SourceFileError) as error:
        resolve_source_files("amazon2023", tmp_path, paths={"reviews": reviews, "meta": tmp_path / "meta.jsonl"})
    assert str(error.value) == f"{tmp_path / 'meta.jsonl'}: amazon2023 meta not found"

    with pytest.raises(ValueError) as error:
        resolve_source_files("amazon2018", tmp_path, paths={"review": reviews})
    assert str(error.value) == "amazon2018: unknown file role(s) ['review'] in paths; roles: reviews, meta"

    with pytest.raises(ValueError) as error:
        ingest_source(duckdb.connect(), "amazon2018", {"reviews": reviews})
    assert str(error.value) == "amazon2018: missing file role(s) ['meta']; roles: reviews, meta"


def test_watched_files_are_the_local_inputs_never_the_ingest_outputs(tmp_path: Path) -> None:
    local = tmp_path / "local_5.json.gz"
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    for name in ("u.item", "u.data", "README", "u.user"):
        (folder / name).write_text("x")
    empty = tmp_path / "not-extracted-yet"
    empty.mkdir()

    assert watched_source_files("synthetic") == []
    assert watched_source_files("amazon2023", paths={"reviews": local}) == [local]  # meta comes by URL: not watched
    assert watched_source_files("movielens", paths={"folder": folder}) == [folder / "u.data", folder / "u.item"]
    assert watched_source_files("movielens", paths={"folder": empty}) == [empty]
