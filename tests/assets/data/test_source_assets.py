"""Each real source kind materializes the data group through Dagster from files in its true format.

Amazon 2018 files come from the synthetic generator (it writes that exact format, day-granular
like the real release); Amazon 2023 and MovieLens files are hand-built from one small rating
table whose k-core is known by construction:

- a 10 x 10 circulant block: user u rates items u, u+1, ..., u+4 (mod 10), so every block user and
  block item has exactly 5 ratings (a 5-core as it stands);
- a noise user rating 2 block items and a noise item rated by 3 block users: both fall below 5 and
  go in the first k-core pass, which leaves every block user and item at exactly 5 again.

So raw_reviews holds 55 ratings of 11 users and 11 items, interactions_5core 50 of 10 and 10.
Timestamps are unix seconds with a time of day, spread over 16 days (weekdays and a weekend).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckSeverity, AssetKey, AssetSelection

from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.sources.fingerprints import content_key, hash_files
from hybridrec_ml.data.synthetic.generator import SyntheticScale, generate_synthetic
from hybridrec_ml.data.warehouse.tables import table_exists
from tests.assets.conftest import Env, make_env
from tests.source_formats import amazon2023_item, amazon2023_review, ml100k_item

BLOCK = 10
NOISE_USER, NOISE_ITEM, UNREVIEWED_ITEM = BLOCK, BLOCK, BLOCK + 1
FIRST_TS = 1_600_000_000  # 2020-09-13 12:26:40 UTC, a Sunday
STEP_S = 7 * 3600 + 13 * 60 + 17  # an odd step: every event at another time of day

# What the hand-built table must give, whatever the file format.
RAW = {"reviews": 55, "users": 11, "items_reviewed": 11, "items": 12}
CORE = {"interactions": 50, "users": 10, "items": 10, "input_interactions": 55, "passes": 1}

ALL_CHECKS_PASS = {
    name: (True, AssetCheckSeverity.ERROR)
    for name in ("k_core_holds", "no_time_leakage", "sequences_causal", "indices_consistent")
} | {"context_not_constant": (True, AssetCheckSeverity.WARN)}

# A block user has 5 items, so one with a val/test row has at most 4 in train: >= 10 - 4 - 1 = 5
# items are left to draw negatives from (99 would not fit a 10-item catalogue).
SMALL_NEGATIVES = {"eval_negatives": {"config": {"n_negatives": 3}}}


def ratings() -> list[tuple[int, int, float, int]]:
    """(user, item, rating, ts) of the hand-built table, in time order, distinct (user, item) pairs."""
    pairs = [(u, (u + r) % BLOCK) for r in range(5) for u in range(BLOCK)]
    pairs[7:7] = [(NOISE_USER, 0), (NOISE_USER, 1)]
    pairs[30:30] = [(0, NOISE_ITEM), (1, NOISE_ITEM), (2, NOISE_ITEM)]
    assert len(set(pairs)) == len(pairs) == RAW["reviews"]
    return [(u, i, float(1 + (3 * u + i) % 5), FIRST_TS + n * STEP_S) for n, (u, i) in enumerate(pairs)]


def movie_title(item: int) -> str:
    """Titles in the MovieLens style; one with a comma and one with a non-ASCII letter."""
    special = {0: "Misérables, Les (1995)", 1: "American President, The (1995)"}
    return special.get(item, f"Movie Number {item} (199{item % 10})")


MOVIE_GENRES = ("Comedy", "Drama", "Thriller")


# ---------------------------------------------------------------------------------------- writers


def write_amazon2023(folder: Path) -> dict[str, str]:
    """Reviews as `.jsonl.gz` (ms timestamps, keyed by parent_asin), metadata as plain `.jsonl`.

    Two more review lines are quarantined: user 0 reviewing another variant (asin) of a parent
    they already reviewed, later (a duplicate (user, parent_asin)), and a timestamp in seconds.
    """
    folder.mkdir(parents=True, exist_ok=True)

    def user_id(user: int) -> str:
        return f"AE{user:02d}Q7XZUSER"

    def parent(item: int) -> str:  # the review's `asin` is the variant B0V..., metadata has B0P... only
        return f"B0P{item:05d}"

    lines = [
        amazon2023_review(user_id(u), parent(i), ts * 1000 + (37 * ts) % 1000, rating=rating)
        for u, i, rating, ts in ratings()
    ]
    last_ms = (FIRST_TS + len(lines) * STEP_S) * 1000
    lines.append(amazon2023_review(user_id(0), parent(0), last_ms, asin="B0X00000"))
    lines.append(amazon2023_review(user_id(3), parent(7), FIRST_TS))
    reviews = folder / "Electronics.jsonl.gz"
    reviews.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    meta = folder / "meta_Electronics.jsonl"
    items = [
        amazon2023_item(parent(i), title=f"Wireless gadget model {i}", store="Acme", categories=["Electronics"])
        for i in range(UNREVIEWED_ITEM + 1)
    ]
    meta.write_text("\n".join(items) + "\n", encoding="utf-8")
    return {"reviews_path": str(reviews), "meta_path": str(meta)}


def write_ml100k(folder: Path) -> None:
    """u.data: user<TAB>item<TAB>rating<TAB>ts; u.item: latin-1, `|`-separated, 19 genre flags."""
    (folder / "u.data").write_text(
        "".join(f"{u + 1}\t{i + 1}\t{int(r)}\t{ts}\n" for u, i, r, ts in ratings()), encoding="ascii"
    )
    movies = [ml100k_item(str(i + 1), movie_title(i), {MOVIE_GENRES[i % 3]}) for i in range(UNREVIEWED_ITEM + 1)]
    (folder / "u.item").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))


def write_ml1m(folder: Path) -> None:
    """ratings.dat: user::movie::rating::ts; movies.dat: latin-1 movie::title::genre|genre."""
    (folder / "ratings.dat").write_text(
        "".join(f"{u + 1}::{i + 1}::{int(r)}::{ts}\n" for u, i, r, ts in ratings()), encoding="ascii"
    )
    movies = [f"{i + 1}::{movie_title(i)}::{MOVIE_GENRES[i % 3]}|Romance" for i in range(UNREVIEWED_ITEM + 1)]
    (folder / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))


def write_ml20m(folder: Path) -> None:
    """ratings.csv / movies.csv with headers, UTF-8, half-star ratings, comma titles quoted."""
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n"
        + "".join(f"{u + 1},{i + 1},{r - 0.5 * (ts % 2)},{ts}\n" for u, i, r, ts in ratings()),
        encoding="utf-8",
    )

    def csv_title(title: str) -> str:
        return f'"{title}"' if "," in title else title

    movies = [f"{i + 1},{csv_title(movie_title(i))},{MOVIE_GENRES[i % 3]}|Romance" for i in range(UNREVIEWED_ITEM + 1)]
    (folder / "movies.csv").write_text("movieId,title,genres\n" + "\n".join(movies) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------- helpers


def _metadata(result, key: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(key)]
    return {name: value.value for name, value in event.materialization.metadata.items()}


def _checks(result) -> dict[str, tuple[bool, AssetCheckSeverity]]:
    return {e.check_name: (e.passed, e.severity) for e in result.get_asset_check_evaluations()}


def _with_stale_ground_truth(env: Env) -> None:
    """A synthetic ground-truth table left by an earlier run: any real source must drop it."""
    with duckdb.connect(env.resources["warehouse"].database) as con:
        con.execute(f"CREATE TABLE {schema.GROUND_TRUTH} {schema.ddl(schema.GROUND_TRUTH_COLUMNS)}")


def _counts(env: Env) -> tuple[int, int, bool]:
    """(raw_reviews rows, interactions_5core rows, ground-truth table present) as stored."""
    with duckdb.connect(env.resources["warehouse"].database, read_only=True) as con:
        (raw,) = con.execute(f"SELECT count(*) FROM {schema.RAW_REVIEWS}").fetchall()[0]
        (core,) = con.execute(f"SELECT count(*) FROM {schema.INTERACTIONS_5CORE}").fetchall()[0]
        return raw, core, table_exists(con, schema.GROUND_TRUTH)


def _materialize_data(env: Env, run_config: dict):
    _with_stale_ground_truth(env)
    result = env.materialize(AssetSelection.groups("data"), run_config={"ops": run_config})
    assert result.success
    return result


def _assert_hand_built_counts(env: Env, result, source_kind: str) -> dict:
    raw = _metadata(result, "raw_reviews")
    assert raw["source_kind"] == source_kind
    assert {name: raw[name] for name in RAW} == RAW
    assert _metadata(result, "raw_items")["items"] == RAW["items"]
    core = _metadata(result, "interactions_5core")
    assert {name: core[name] for name in CORE} == CORE
    assert core["k"] == 5
    assert _counts(env) == (RAW["reviews"], CORE["interactions"], False)
    return raw


# ------------------------------------------------------------------------------------------ tests


def test_amazon2023_jsonl_files_materialize_the_data_group(tmp_path: Path) -> None:
    env = make_env(tmp_path, kind="amazon2023", **write_amazon2023(tmp_path / "downloads"))

    result = _materialize_data(env, SMALL_NEGATIVES)

    # Millisecond timestamps keep the time of day: every context feature varies.
    assert _checks(result) == ALL_CHECKS_PASS
    raw = _assert_hand_built_counts(env, result, "amazon2023")
    assert (raw["review_lines"], raw["item_lines"]) == (57, 12)
    quarantined = ("quarantined_reviews_duplicate_review", "quarantined_reviews_timestamp_not_milliseconds")
    assert [raw[name] for name in quarantined] == [1, 1]
    assert raw["quarantined"] == 2
    assert (raw["first_ts"], raw["last_ts"]) == (FIRST_TS, FIRST_TS + 54 * STEP_S)
    with duckdb.connect(env.resources["warehouse"].database, read_only=True) as con:
        keyed = con.execute(
            f"SELECT count(DISTINCT item_id) FROM {schema.RAW_REVIEWS} JOIN {schema.RAW_ITEMS} USING (item_id)"
        ).fetchall()
    assert keyed == [(RAW["items_reviewed"],)]  # every reviewed parent_asin has its metadata row


@pytest.mark.parametrize(
    ("layout", "write", "files"),
    [
        ("ml-100k", write_ml100k, ("u.data", "u.item")),
        ("ml-1m", write_ml1m, ("ratings.dat", "movies.dat")),
        ("ml-20m", write_ml20m, ("ratings.csv", "movies.csv")),
    ],
)
def test_movielens_folder_materializes_the_data_group(
    tmp_path: Path, layout: str, write: Callable[[Path], None], files: tuple[str, str]
) -> None:
    folder = tmp_path / layout
    folder.mkdir()
    write(folder)
    env = make_env(tmp_path / "env", kind="movielens", folder=str(folder))

    result = _materialize_data(env, SMALL_NEGATIVES)

    # MovieLens timestamps are unix seconds with a time of day (not day-granular): all features vary.
    assert _checks(result) == ALL_CHECKS_PASS
    raw = _assert_hand_built_counts(env, result, "movielens")
    assert (raw["review_lines"], raw["item_lines"], raw["quarantined"]) == (55, 12, 0)
    assert raw["file_folder"] == str(folder)
    with duckdb.connect(env.resources["warehouse"].database, read_only=True) as con:
        stored = con.execute(f"SELECT DISTINCT source_file FROM {schema.RAW_REVIEWS}").fetchall()
        titles = dict(con.execute(f"SELECT item_id, title FROM {schema.RAW_ITEMS}").fetchall())
    assert stored == [(files[0],)]
    assert (titles["1"], titles["2"]) == (movie_title(0), movie_title(1))  # latin-1 decoded, quotes removed


# --------------------------------------------------------------------------------------- amazon2018

AMAZON2018_SCALE = SyntheticScale(n_users=30, n_items=60, n_interactions=300, n_topics=2, max_user_interactions=20)
AMAZON2018_K = 3


@pytest.fixture(scope="module")
def amazon2018_files(tmp_path_factory) -> tuple[Path, Path]:
    """Amazon 2018 `Electronics_5.json.gz` + `meta_Electronics.json.gz`, day-granular as the real files."""
    files = generate_synthetic(AMAZON2018_SCALE, tmp_path_factory.mktemp("amazon2018"), seed=5, day_granular=True)
    return files.reviews, files.meta


def _expected_amazon2018(reviews: Path, meta: Path, k: int) -> dict[str, int]:
    """Counts recomputed from the files in plain Python: earliest review per pair, then the k-core."""
    with gzip.open(reviews, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    with gzip.open(meta, "rt", encoding="utf-8") as lines:
        asins = [json.loads(line)["asin"] for line in lines]
    pairs = {(r["reviewerID"], r["asin"]) for r in records}
    core = set(pairs)
    passes = 0
    while True:
        users, items = Counter(u for u, _ in core), Counter(i for _, i in core)
        kept = {(u, i) for u, i in core if users[u] >= k and items[i] >= k}
        if kept == core:
            break
        core, passes = kept, passes + 1
    return {
        "review_lines": len(records),
        "reviews": len(pairs),
        "users": len({u for u, _ in pairs}),
        "items_reviewed": len({i for _, i in pairs}),
        "item_lines": len(asins),
        "items": len(set(asins)),
        "core_interactions": len(core),
        "core_users": len({u for u, _ in core}),
        "core_items": len({i for _, i in core}),
        "passes": passes,
    }


def test_amazon2018_local_files_materialize_the_data_group(tmp_path: Path, amazon2018_files) -> None:
    reviews, meta = amazon2018_files
    expected = _expected_amazon2018(reviews, meta, AMAZON2018_K)
    env = make_env(tmp_path, kind="amazon2018", reviews_path=str(reviews), meta_path=str(meta))

    result = _materialize_data(
        env, {"interactions_5core": {"config": {"k": AMAZON2018_K}}, "eval_negatives": {"config": {"n_negatives": 5}}}
    )

    # Amazon 2018 stamps are 00:00 UTC: hour_sin/hour_cos are constant, which the check WARNs about
    # (without failing the run); the day of week still varies. Every ERROR check passes.
    checks = _checks(result)
    assert checks == ALL_CHECKS_PASS | {"context_not_constant": (False, AssetCheckSeverity.WARN)}
    (context_check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "context_not_constant"]
    assert context_check.metadata["constant_features"].value == "hour_sin, hour_cos"

    raw = _metadata(result, "raw_reviews")
    assert raw["source_kind"] == "amazon2018"
    assert (raw["file_reviews"], raw["file_meta"]) == (str(reviews), str(meta))
    assert raw["source_key"] == content_key(hash_files([reviews, meta]))  # what the source sensor compares with
    counted = ("review_lines", "reviews", "users", "items_reviewed", "item_lines", "items")
    assert {name: raw[name] for name in counted} == {name: expected[name] for name in counted}
    # Only the duplicates the generator plants, as in the real files: later (user, asin) reviews
    # and repeated metadata rows of an asin.
    assert (raw["quarantined_reviews_duplicate_review"], raw["quarantined_items_duplicate_asin"]) == (
        expected["review_lines"] - expected["reviews"], expected["item_lines"] - expected["items"]
    )
    duplicates = expected["review_lines"] - expected["reviews"] + expected["item_lines"] - expected["items"]
    assert raw["quarantined"] == duplicates
    core = _metadata(result, "interactions_5core")
    assert (core["k"], core["interactions"], core["users"], core["items"], core["passes"]) == (
        AMAZON2018_K, expected["core_interactions"], expected["core_users"], expected["core_items"], expected["passes"]
    )
    assert 0 < expected["core_interactions"] < expected["reviews"]  # the k-core really filters
    assert _counts(env) == (expected["reviews"], expected["core_interactions"], False)


def test_amazon2018_is_downloaded_by_url_into_data_dir(tmp_path: Path, amazon2018_files, served_dir) -> None:
    reviews, meta = amazon2018_files
    folder, base_url = served_dir
    for path in (reviews, meta):
        shutil.copy(path, folder / path.name)
    env = make_env(
        tmp_path / "env",
        kind="amazon2018",
        reviews_url=f"{base_url}/{reviews.name}",
        reviews_sha256=hashlib.sha256(reviews.read_bytes()).hexdigest(),
        meta_url=f"{base_url}/{meta.name}",
    )
    data_dir = Path(env.resources["source"].data_dir)
    _with_stale_ground_truth(env)

    result = env.materialize(AssetSelection.assets("raw_reviews", "raw_items"))

    assert result.success
    downloaded = {"reviews": data_dir / "reviews" / reviews.name, "meta": data_dir / "meta" / meta.name}
    assert {role: path.read_bytes() for role, path in downloaded.items()} == {
        "reviews": reviews.read_bytes(), "meta": meta.read_bytes()
    }
    raw = _metadata(result, "raw_reviews")
    assert (raw["file_reviews"], raw["file_meta"]) == (str(downloaded["reviews"]), str(downloaded["meta"]))
    assert "source_key" not in raw  # downloads are the ingest's own output: nothing local to watch
    expected = _expected_amazon2018(reviews, meta, AMAZON2018_K)
    assert (raw["review_lines"], raw["reviews"], raw["users"], raw["items"]) == (
        expected["review_lines"], expected["reviews"], expected["users"], expected["items"]
    )
    with duckdb.connect(env.resources["warehouse"].database, read_only=True) as con:
        (stored,) = con.execute(f"SELECT count(*) FROM {schema.RAW_REVIEWS}").fetchall()[0]
        assert not table_exists(con, schema.GROUND_TRUTH)
    assert stored == expected["reviews"]
