"""The synthetic generator on the tiny scale: Amazon 2018 file formats, determinism, atomic writes,
ground truth, and the planted structure each model component is meant to learn."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest

from hybridrec_ml.data.synthetic.file_format import GROUND_TRUTH_HEADER, write_gzip_temp
from hybridrec_ml.data.synthetic.generator import (
    CONTENT,
    DYNAMIC,
    MECHANISMS,
    PLANTED_MIXTURE,
    SCALES,
    STATIC,
    SyntheticScale,
    generate_synthetic,
    ground_truth_build,
    simulate,
)
from hybridrec_ml.data.transforms.context_buckets import CONTEXT_BUCKETS, bucket_of_timestamp, planted_mechanism_shares
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import replace_tables

REVIEW_KEY_ORDER = (
    "overall", "vote", "verified", "reviewTime", "reviewerID", "asin", "style",
    "reviewerName", "reviewText", "summary", "unixReviewTime", "image",
)  # fmt: skip
META_KEYS = (
    "category", "tech1", "description", "fit", "title", "also_buy", "tech2", "brand", "feature", "rank",
    "also_view", "main_cat", "similar_item", "date", "price", "asin", "imageURL", "imageURLHighRes", "details",
)  # fmt: skip


def strict_json(line: str) -> dict:
    def reject(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(line, parse_constant=reject)


def read_json_lines(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [strict_json(line) for line in handle]


def read_csv_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory):
    return generate_synthetic("tiny", tmp_path_factory.mktemp("tiny"), seed=0)


@pytest.fixture(scope="module")
def reviews(files) -> list[dict]:
    return read_json_lines(files.reviews)


@pytest.fixture(scope="module")
def world():
    return simulate("tiny", seed=0)


def test_scales():
    full = SCALES["full"]
    assert (full.n_users, full.n_items, full.n_interactions) == (728_719, 160_052, 6_739_590)
    assert (SCALES["demo"].n_users, SCALES["demo"].n_items, SCALES["demo"].n_interactions) == (3_000, 1_200, 45_000)
    with pytest.raises(ValueError, match="unknown synthetic scale"):
        simulate("huge")


def test_files_and_counts(files):
    assert [p.name for p in (files.reviews, files.meta, files.ground_truth)] == [
        "Electronics_5.json.gz",
        "meta_Electronics.json.gz",
        "ground_truth_Electronics.csv.gz",
    ]
    assert (files.n_reviews, files.n_users, files.n_items) == (5_000, 300, 150)
    assert sorted(p.name for p in files.reviews.parent.iterdir()) == sorted(
        p.name for p in (files.reviews, files.meta, files.ground_truth)
    )  # no temp files left behind


def test_review_lines_have_amazon_2018_types(reviews):
    assert len(reviews) == 5_000
    for review in reviews:
        keys = list(review)
        assert keys == [k for k in REVIEW_KEY_ORDER if k in review]
        assert type(review["overall"]) is float and review["overall"] in {1.0, 2.0, 3.0, 4.0, 5.0}
        assert type(review["verified"]) is bool
        assert re.fullmatch(r"A[0-9A-Z]{12}", review["reviewerID"])
        assert re.fullmatch(r"B0[0-9A-Z]{8}", review["asin"])
        assert type(review["unixReviewTime"]) is int
        date = datetime.fromtimestamp(review["unixReviewTime"], UTC)
        assert review["reviewTime"] == f"{date.month:02d} {date.day}, {date.year}"
        assert datetime.strptime(review["reviewTime"], "%m %d, %Y").date() == date.date()
        if "vote" in review:
            assert re.fullmatch(r"[1-9]\d{0,2}(,\d{3})*", review["vote"])
        if "style" in review:
            assert review["style"] and all(k.endswith(":") and v.startswith(" ") for k, v in review["style"].items())
        for key in ("reviewerName", "reviewText", "summary"):
            assert type(review.get(key, "")) is str
        if "image" in review:
            assert review["image"] and all(url.startswith("https://") for url in review["image"])
    present = {key: sum(key in r for r in reviews) for key in REVIEW_KEY_ORDER}
    assert 0 < present["vote"] < 1_500 and 0 < present["image"] < 500
    assert 0 < present["style"] < 5_000 and present["reviewerName"] < 5_000
    assert any("," in r.get("vote", "") for r in reviews)
    assert any(r["reviewTime"][3] != "0" and len(r["reviewTime"].split(",")[0]) == 4 for r in reviews)  # "MM D,"
    assert len({r["unixReviewTime"] % 86_400 for r in reviews}) > 1_000  # real times of day


def test_metadata_lines(files, reviews):
    items = read_json_lines(files.meta)
    assert len(items) == files.n_meta_rows
    for item in items:
        assert set(item) <= set(META_KEYS) and list(item) == [k for k in META_KEYS if k in item]
        for key in ("category", "description", "feature", "also_buy", "also_view", "imageURL", "imageURLHighRes"):
            assert isinstance(item[key], list) and all(isinstance(v, str) for v in item[key])
        assert isinstance(item["title"], str) and isinstance(item["price"], str)
        assert isinstance(item.get("rank", ""), str | list) and isinstance(item.get("details", {}), dict)
        assert len(item["asin"]) == 10
    assert sum(len(item) == 19 for item in items) > 0.8 * len(items)
    assert sum(len(item) < 19 for item in items) > 0  # keys sometimes missing
    assert {type(item["rank"]) for item in items if "rank" in item} == {str, list}
    assert any(re.fullmatch(r"\$\d+\.\d\d", item["price"]) for item in items)
    assert any(item["price"] == "" for item in items)
    assert any(k.startswith("\n") for item in items for k in item.get("details", {}))
    asins = [item["asin"] for item in items]
    assert len(asins) > len(set(asins))  # duplicate asin rows exist
    assert {r["asin"] for r in reviews} <= set(asins)  # tiny: every reviewed item has metadata


def test_titles_and_descriptions_carry_the_topic(files):
    """Items of one topic (category label) share far more words than items of different topics."""
    items = {item["asin"]: item for item in read_json_lines(files.meta)}.values()
    words = [set(" ".join(item["description"] + [item["title"]]).lower().split()) for item in items]
    label = [item["category"][2] for item in items]
    same, other = [], []
    for i in range(len(words)):
        for j in range(i):
            jaccard = len(words[i] & words[j]) / max(1, len(words[i] | words[j]))
            (same if label[i] == label[j] else other).append(jaccard)
    assert np.mean(same) > 3 * np.mean(other)


def test_ground_truth_matches_reviews_one_to_one(files, reviews):
    lines = read_csv_lines(files.ground_truth)
    assert lines[0] == GROUND_TRUTH_HEADER == "reviewerID,asin,unixReviewTime,mechanism"
    rows = [line.split(",") for line in lines[1:]]
    assert [(u, a, int(t)) for u, a, t, _ in rows] == [(r["reviewerID"], r["asin"], r["unixReviewTime"]) for r in reviews]
    assert {m for *_, m in rows} == set(MECHANISMS)


def test_ground_truth_table_and_planted_shares(files):
    con = duckdb.connect()
    assert replace_tables(con, [ground_truth_build(files.ground_truth)]) == [5_000]
    first = con.execute(f"SELECT {schema.column_list(schema.GROUND_TRUTH_COLUMNS)} FROM {schema.GROUND_TRUTH} LIMIT 1")
    user_id, item_id, ts, mechanism = read_csv_lines(files.ground_truth)[1].split(",")
    assert first.fetchall() == [(user_id, item_id, int(ts), mechanism)]
    shares = planted_mechanism_shares(con)
    assert shares["bucket"].tolist() == list(CONTEXT_BUCKETS)
    for row in shares.itertuples():
        planted = np.array(PLANTED_MIXTURE[row.bucket])
        realised = np.array([row.static, row.dynamic, row.content])
        assert np.argmax(realised) == np.argmax(planted)
        assert np.abs(realised - planted).max() < 0.1


def test_ground_truth_build_rejects_another_header(tmp_path):
    path = tmp_path / "gt.csv.gz"
    path.write_bytes(gzip.compress(b"user,item,ts,mechanism\nA1,B1,0,static\n"))
    with pytest.raises(ValueError, match="header"):
        ground_truth_build(path)


def test_same_seed_same_bytes_other_seed_other_bytes(files, tmp_path):
    again = generate_synthetic("tiny", tmp_path / "again", seed=0)
    for first, second in zip(
        (files.reviews, files.meta, files.ground_truth), (again.reviews, again.meta, again.ground_truth), strict=True
    ):
        assert first.read_bytes() == second.read_bytes()
    other = generate_synthetic("tiny", tmp_path / "other", seed=1)
    assert other.reviews.read_bytes() != files.reviews.read_bytes()


def test_day_granular_floors_every_time_to_midnight(files, reviews, tmp_path):
    granular = generate_synthetic("tiny", tmp_path, seed=0, day_granular=True, category="Cell_Phones")
    assert granular.reviews.name == "Cell_Phones_5.json.gz"
    day_reviews = read_json_lines(granular.reviews)
    assert all(r["unixReviewTime"] % 86_400 == 0 for r in day_reviews)
    truth_ts = [int(line.split(",")[2]) for line in read_csv_lines(granular.ground_truth)[1:]]
    assert all(ts % 86_400 == 0 for ts in truth_ts)
    floored = sorted((r["reviewerID"], r["asin"], r["unixReviewTime"] // 86_400 * 86_400) for r in reviews)
    assert sorted((r["reviewerID"], r["asin"], r["unixReviewTime"]) for r in day_reviews) == floored


def test_rejects_category_that_is_not_a_plain_name(tmp_path):
    with pytest.raises(ValueError, match="category"):
        generate_synthetic("tiny", tmp_path, category="../x")


def test_failed_write_leaves_neither_temp_nor_target(tmp_path):
    def blocks():
        yield "first line\n"
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        write_gzip_temp(tmp_path / "x.json.gz", blocks())
    assert list(tmp_path.iterdir()) == []


def test_regeneration_replaces_existing_files(tmp_path):
    (tmp_path / "Electronics_5.json.gz").write_bytes(b"stale")
    written = generate_synthetic("tiny", tmp_path, seed=0)
    assert len(read_json_lines(written.reviews)) == 5_000
    assert len(list(tmp_path.iterdir())) == 3


# --- the planted structure ------------------------------------------------------------------------
def test_every_user_has_five_reviews_and_pairs_are_unique_except_planted_duplicates(world):
    assert len(world.user) == 5_000
    assert np.bincount(world.user).min() >= 5
    pairs = world.user * 10_000 + world.item
    unique, first, count = np.unique(pairs, return_index=True, return_counts=True)
    duplicated = np.flatnonzero(count > 1)
    assert len(duplicated) == 5 and count.max() == 2  # 0.1% of 5,000 reviews
    for pair in unique[duplicated]:
        ts = world.ts[pairs == pair]
        assert ts[1] > ts[0]  # the duplicate is the later review


def test_items_mostly_have_five_reviews(world):
    counts = np.bincount(world.item, minlength=SCALES["tiny"].n_items)
    assert (counts >= 5).mean() > 0.95
    assert counts.max() > 5 * np.median(counts)  # heavy-tailed popularity


def test_cold_items_appear_only_after_70_percent_of_interactions(world):
    cat = world.catalogue
    cold = cat.cold[world.item]
    assert cat.cold.sum() == 12  # 8% of 150
    assert np.all(world.ts >= cat.release[world.item])
    assert world.ts[cold].min() >= np.quantile(world.ts, 0.70)


def test_each_mechanism_follows_its_rule(world):
    """static: user's communities; content: user's topics; dynamic: a 'next' item of the previous one."""
    n_originals = len(world.user) - 5  # the planted duplicates are appended after the originals
    user, item, mechanism = world.user[:n_originals], world.item[:n_originals], world.mechanism[:n_originals]
    last_resort = 0
    static = mechanism == STATIC
    last_resort += (world.user_communities[user[static]] != world.catalogue.community[item[static], None]).all(axis=1).sum()
    content = mechanism == CONTENT
    last_resort += (world.user_topics[user[content]] != world.catalogue.topic[item[content], None]).all(axis=1).sum()
    dynamic = np.flatnonzero(mechanism == DYNAMIC)
    assert np.all(user[dynamic - 1] == user[dynamic])  # never a user's first review
    last_resort += (world.catalogue.next_items[item[dynamic - 1]] != item[dynamic, None]).all(axis=1).sum()
    assert last_resort <= 10  # the rare 'any released item' fallback


def test_mechanism_mixture_depends_on_the_bucket(world):
    bucket = bucket_of_timestamp(world.ts)
    shares = np.array([np.bincount(world.mechanism[bucket == b], minlength=3) / (bucket == b).sum() for b in range(3)])
    assert shares.argmax(axis=1).tolist() == [CONTENT, DYNAMIC, STATIC]


def test_simulate_rejects_scales_it_cannot_fill():
    with pytest.raises(ValueError, match="5 interactions per user"):
        simulate(SyntheticScale(n_users=100, n_items=100, n_interactions=400, n_topics=3, max_user_interactions=10))
