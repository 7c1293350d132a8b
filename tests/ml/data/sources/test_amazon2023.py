"""ingest_amazon2023() on small generated files in the 2023 JSONL formats (gzip and plain)."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from hybridrec_ml.data.sources.amazon2023 import ingest_amazon2023
from hybridrec_ml.data.sources.line_reader import SourceFileError
from hybridrec_ml.data.warehouse import schema
from tests.source_formats import amazon2023_item as _item
from tests.source_formats import amazon2023_review as _review

REVIEW_LINES = [
    _review("U1", "P1", 1588687728923, helpful_vote=2),  # 1
    _review("U2", "P1", 1588687729000, rating=4.0, verified_purchase=False),  # 2: a later duplicate of line 4
    _review("U1", "P1", 1600000000000),  # 3: later duplicate of line 1
    _review("U2", "P1", 1500000000999, rating=3.0),  # 4: earliest U2/P1
    '{"rating": 5.0, "user_id": "U3"',  # 5
    "",  # 6
    _review(None, "P2", 1588687728923),  # 7
    _review("U3", "P2", 1588687728),  # 8: seconds, not milliseconds
    _review("U3", "P2", 1588687728923, rating=7),  # 9
    _review("U4", "P2", 1588687700000, helpful_vote="lots"),  # 10
    "[1, 2]",  # 11
]

ITEM_LINES = [
    _item(  # 1
        "P1",
        title="USB-C Cable",
        features=["Fast charging", "", "2 m"],
        description=["Line one", "Line two"],
        categories=["Electronics", "Cables"],
        store="Anker",
        price=12.99,
    ),
    _item("P2", main_category="Computers", title="Laptop", price="$1,299.00"),  # 2
    _item("P3", title="<b>Bold</b> speaker", price="None", store="Acme"),  # 3
    _item("P1", title="a duplicate"),  # 4
    _item(None, title="no key"),  # 5
    _review("U9", "P9", 1588687728923),  # 6
]
BAD_UTF8_ITEM = b'{"parent_asin": "P4", "title": "caf\xe9"}'  # 7: latin-1 bytes in a UTF-8 file


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    reviews = tmp_path / "Electronics.jsonl.gz"
    reviews.write_bytes(gzip.compress(("\n".join(REVIEW_LINES) + "\n").encode(), mtime=0))
    meta = tmp_path / "meta_Electronics.jsonl"
    meta.write_bytes(("\n".join(ITEM_LINES) + "\n").encode() + BAD_UTF8_ITEM + b"\n")
    return reviews, meta


def test_ingest_fills_raw_tables_and_quarantine(files: tuple[Path, Path], tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))

    report = ingest_amazon2023(con, *files)

    reviews = con.execute(
        f"SELECT {schema.column_list(schema.RAW_REVIEWS_COLUMNS)} FROM {schema.RAW_REVIEWS} ORDER BY line_no"
    ).fetchall()
    assert reviews == [
        ("U1", "P1", 5.0, 1588687728, True, 2, "Electronics.jsonl.gz", 1),
        ("U2", "P1", 3.0, 1500000000, True, 0, "Electronics.jsonl.gz", 4),
        ("U4", "P2", 5.0, 1588687700, True, None, "Electronics.jsonl.gz", 10),
    ]
    items = con.execute(
        f"SELECT {schema.column_list(schema.RAW_ITEMS_COLUMNS)} FROM {schema.RAW_ITEMS} ORDER BY line_no"
    ).fetchall()
    assert items == [
        ("P1", "USB-C Cable", "Line one\nLine two", "Fast charging\n2 m", "Electronics | Cables", "Anker", 12.99,
         "meta_Electronics.jsonl", 1),
        ("P2", "Laptop", None, None, "Computers", None, 1299.0, "meta_Electronics.jsonl", 2),
        ("P3", "<b>Bold</b> speaker", None, None, "All Electronics", "Acme", None, "meta_Electronics.jsonl", 3),
    ]
    quarantine = con.execute(
        f"SELECT {schema.column_list(schema.QUARANTINE_COLUMNS)} FROM {schema.QUARANTINE} ORDER BY table_name, line_no"
    ).fetchall()
    r, m = "Electronics.jsonl.gz", "meta_Electronics.jsonl"
    assert quarantine == [
        ("raw_items", m, 4, "duplicate_parent_asin", None),
        ("raw_items", m, 5, "missing_parent_asin", ITEM_LINES[4]),
        ("raw_items", m, 6, "review_record", ITEM_LINES[5]),
        ("raw_items", m, 7, "invalid_utf8", BAD_UTF8_ITEM.decode("utf-8", errors="replace")),
        ("raw_reviews", r, 2, "duplicate_review", None),
        ("raw_reviews", r, 3, "duplicate_review", None),
        ("raw_reviews", r, 5, "malformed_json", REVIEW_LINES[4]),
        ("raw_reviews", r, 6, "empty_line", None),
        ("raw_reviews", r, 7, "missing_user_id", REVIEW_LINES[6]),
        ("raw_reviews", r, 8, "timestamp_not_milliseconds", REVIEW_LINES[7]),
        ("raw_reviews", r, 9, "invalid_rating", REVIEW_LINES[8]),
        ("raw_reviews", r, 11, "not_a_json_object", "[1, 2]"),
    ]
    assert report.metadata() | {"seconds": 0.0} == {
        "review_lines": 11,
        "reviews": 3,
        "users": 3,
        "items_reviewed": 2,
        "first_ts": 1500000000,
        "last_ts": 1588687728,
        "unparsed_votes": 1,
        "item_lines": 7,
        "items": 3,
        "markup_titles": 1,
        "unparsed_prices": 1,
        "python_literal_lines": 0,
        "seconds": 0.0,
        "quarantined_reviews_duplicate_review": 2,
        "quarantined_reviews_empty_line": 1,
        "quarantined_reviews_invalid_rating": 1,
        "quarantined_reviews_malformed_json": 1,
        "quarantined_reviews_missing_user_id": 1,
        "quarantined_reviews_not_a_json_object": 1,
        "quarantined_reviews_timestamp_not_milliseconds": 1,
        "quarantined_items_duplicate_parent_asin": 1,
        "quarantined_items_invalid_utf8": 1,
        "quarantined_items_missing_parent_asin": 1,
        "quarantined_items_review_record": 1,
        "quarantined": 12,
    }


def test_swapped_files_are_refused(files: tuple[Path, Path], tmp_path: Path) -> None:
    reviews, meta = files
    con = duckdb.connect()

    with pytest.raises(SourceFileError) as error:
        ingest_amazon2023(con, meta, reviews)

    assert str(error.value) == f"{meta}: not a reviews file: 5 of 7 lines are metadata_record, 1 valid"


def test_missing_file_is_a_source_file_error(files: tuple[Path, Path], tmp_path: Path) -> None:
    reviews, _ = files
    with pytest.raises(SourceFileError, match="meta.jsonl: file not found"):
        ingest_amazon2023(duckdb.connect(), reviews, tmp_path / "meta.jsonl")
