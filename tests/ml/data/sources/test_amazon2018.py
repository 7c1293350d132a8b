import gzip
import json
from pathlib import Path

import pytest

from hybridrec_ml.data.sources import line_reader
from hybridrec_ml.data.sources.amazon2018 import ingest_amazon2018
from hybridrec_ml.data.sources.line_reader import SourceFileError
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import table_exists

REVIEWS = "Electronics_5.json.gz"
META = "meta_Electronics.json.gz"
DAY = 1491436800  # 2017-04-06 00:00 UTC


def write_gz(path: Path, lines: list[str | bytes]) -> Path:
    """Lines joined with \\n exactly as given (bytes lines may hold anything)."""
    payload = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    with gzip.open(path, "wb") as stream:
        stream.write(payload)
    return path


def review(**fields: object) -> str:
    return json.dumps(fields)


MALFORMED = '{"overall": 4.0, "reviewerID": "U2", "asin": "I1"'
REVIEW_LINES = [
    review(overall=5.0, vote="1,234", verified=True, reviewerID="U1", asin="I1", unixReviewTime=DAY,
           style={"Format:": " Hardcover"}, reviewText="ok"),
    MALFORMED,
    "{'overall': 3.0, 'reviewerID': 'U2', 'asin': 'I2', 'unixReviewTime': 1491523200, 'helpful': [0, 0]}",
    "",
    review(overall=1.0, reviewerID="U1", asin="I1", unixReviewTime=DAY),  # same ts as line 1: later line loses
    review(overall=2.0, reviewerID="U3", asin="I1", unixReviewTime=DAY + 2 * 86400, reviewText=""),
    review(overall=2.0, reviewerID="U3", asin="I1", unixReviewTime=DAY + 86400),  # earlier: kept over line 6
    review(overall="great", reviewerID="U4", asin="I1", unixReviewTime=DAY),
    review(overall=0.0, reviewerID="U4", asin="I1", unixReviewTime=DAY),
    review(overall=4.0, asin="I1", unixReviewTime=DAY),
    review(overall=4.0, reviewerID="U5", unixReviewTime=DAY),
    review(overall=4.0, reviewerID="U5", asin="I3"),
    review(reviewerID="U5", asin="I3", unixReviewTime=DAY),
    review(overall=4.0, reviewerID="U5", asin="I3", unixReviewTime="04 6, 2017"),
    "[1, 2]",
    review(overall=4.0, vote="n/a", verified=False, reviewerID="U6", asin="I3", unixReviewTime=DAY),
    review(title="A product", asin="I9"),
    "{'broken': }",
    review(overall="4.0", vote="12", reviewerID="U7", asin="I2", unixReviewTime=str(DAY)),
]
META_LINES = [
    json.dumps({"asin": "I1", "title": "USB <b>Cable</b> &amp; charger", "description": ["Fast", "", "charging"],
                "feature": ["1m long", "braided"], "category": ["Electronics", "Cables"], "brand": "Acme",
                "price": "$7.86", "rank": ["1 in Cables"]}),
    json.dumps({"asin": "I2", "title": "var aPageStart = (new Date()).getTime();",
                "description": "Plain string description", "price": "junk",
                "rank": "2,938,573 in Beauty & Personal Care ("}),
    json.dumps({"asin": "I1", "title": "Duplicate"}),
    json.dumps({"asin": "I3", "title": "", "description": [], "feature": [], "category": [], "price": ""}),
    json.dumps({"asin": "I4", "title": "Speaker", "price": "$1,299.99",
                "details": {"\n    Product Dimensions: \n    ": "1 x 2"}}),
    json.dumps({"title": "no asin"}),
    "not json",
    json.dumps({"asin": "I5", "price": 12.5}),
]


def test_reader_keeps_valid_lines_and_quarantines_every_quirk(tmp_path, con):
    report = ingest_amazon2018(con, write_gz(tmp_path / REVIEWS, REVIEW_LINES), write_gz(tmp_path / META, META_LINES))

    assert con.execute(
        "SELECT user_id, item_id, rating, ts, verified, vote, source_file, line_no FROM raw_reviews ORDER BY line_no"
    ).fetchall() == [
        ("U1", "I1", 5.0, DAY, True, 1234, REVIEWS, 1),
        ("U2", "I2", 3.0, 1491523200, None, None, REVIEWS, 3),
        ("U3", "I1", 2.0, DAY + 86400, None, None, REVIEWS, 7),
        ("U6", "I3", 4.0, DAY, False, None, REVIEWS, 16),
        ("U7", "I2", 4.0, DAY, None, 12, REVIEWS, 19),
    ]
    assert con.execute(
        "SELECT item_id, title, description, features, categories, brand, price, source_file, line_no "
        "FROM raw_items ORDER BY line_no"
    ).fetchall() == [
        ("I1", "USB <b>Cable</b> &amp; charger", "Fast\ncharging", "1m long\nbraided", "Electronics | Cables",
         "Acme", 7.86, META, 1),
        ("I2", "var aPageStart = (new Date()).getTime();", "Plain string description", None, None, None, None,
         META, 2),
        ("I3", None, None, None, None, None, None, META, 4),
        ("I4", "Speaker", None, None, None, None, 1299.99, META, 5),
        ("I5", None, None, None, None, None, 12.5, META, 8),
    ]
    assert con.execute(
        "SELECT table_name, source_file, line_no, reason, raw_line FROM quarantine ORDER BY table_name, line_no"
    ).fetchall() == [
        ("raw_items", META, 3, "duplicate_asin", None),
        ("raw_items", META, 6, "missing_asin", META_LINES[5]),
        ("raw_items", META, 7, "malformed_json", "not json"),
        ("raw_reviews", REVIEWS, 2, "malformed_json", MALFORMED),
        ("raw_reviews", REVIEWS, 4, "empty_line", None),
        ("raw_reviews", REVIEWS, 5, "duplicate_review", None),
        ("raw_reviews", REVIEWS, 6, "duplicate_review", None),
        ("raw_reviews", REVIEWS, 8, "invalid_overall", REVIEW_LINES[7]),
        ("raw_reviews", REVIEWS, 9, "invalid_overall", REVIEW_LINES[8]),
        ("raw_reviews", REVIEWS, 10, "missing_reviewerID", REVIEW_LINES[9]),
        ("raw_reviews", REVIEWS, 11, "missing_asin", REVIEW_LINES[10]),
        ("raw_reviews", REVIEWS, 12, "missing_unixReviewTime", REVIEW_LINES[11]),
        ("raw_reviews", REVIEWS, 13, "missing_overall", REVIEW_LINES[12]),
        ("raw_reviews", REVIEWS, 14, "invalid_unixReviewTime", REVIEW_LINES[13]),
        ("raw_reviews", REVIEWS, 15, "not_a_json_object", "[1, 2]"),
        ("raw_reviews", REVIEWS, 17, "metadata_record", REVIEW_LINES[16]),
        ("raw_reviews", REVIEWS, 18, "malformed_json", "{'broken': }"),
    ]
    metadata = report.metadata()
    assert {key: metadata[key] for key in metadata if key != "seconds"} == {
        "review_lines": 19,
        "reviews": 5,
        "users": 5,
        "items_reviewed": 3,
        "first_ts": DAY,
        "last_ts": DAY + 86400,
        "unparsed_votes": 1,
        "item_lines": 8,
        "items": 5,
        "markup_titles": 2,
        "unparsed_prices": 1,
        "python_literal_lines": 1,
        "quarantined_reviews_duplicate_review": 2,
        "quarantined_reviews_empty_line": 1,
        "quarantined_reviews_invalid_overall": 2,
        "quarantined_reviews_invalid_unixReviewTime": 1,
        "quarantined_reviews_malformed_json": 2,
        "quarantined_reviews_metadata_record": 1,
        "quarantined_reviews_missing_asin": 1,
        "quarantined_reviews_missing_overall": 1,
        "quarantined_reviews_missing_reviewerID": 1,
        "quarantined_reviews_missing_unixReviewTime": 1,
        "quarantined_reviews_not_a_json_object": 1,
        "quarantined_items_duplicate_asin": 1,
        "quarantined_items_malformed_json": 1,
        "quarantined_items_missing_asin": 1,
        "quarantined": 17,
    }


def test_stray_carriage_returns_control_characters_and_invalid_utf8_keep_line_numbers(tmp_path, con):
    """A stray CR, a CRLF ending, control characters and invalid UTF-8 must not shift line numbers."""
    lines = [
        review(overall=5.0, reviewerID="U1", asin="I1", unixReviewTime=DAY).encode(),
        b'{"overall": 5.0, "reviewerID": "U\rX"}',
        review(overall=4.0, reviewerID="U2", asin="I1", unixReviewTime=DAY).encode() + b"\r",
        b'{"reviewerID": "\xff\xfe"}',
        b'{"reviewerID": "U3", "asin": "I1", "unixReviewTime": 1, "overall": 3, "x": "\x1e\x1f"}',
        review(overall=3.0, reviewerID="U4", asin="I1", unixReviewTime=DAY).encode(),
    ]
    ingest_amazon2018(con, write_gz(tmp_path / REVIEWS, lines), write_gz(tmp_path / META, META_LINES[:1]))

    assert con.execute("SELECT user_id, line_no FROM raw_reviews ORDER BY line_no").fetchall() == [
        ("U1", 1), ("U2", 3), ("U4", 6)
    ]
    assert con.execute(
        "SELECT line_no, reason, raw_line FROM quarantine WHERE table_name = 'raw_reviews' ORDER BY line_no"
    ).fetchall() == [
        (2, "malformed_json", '{"overall": 5.0, "reviewerID": "U\rX"}'),
        (4, "invalid_utf8", '{"reviewerID": "\ufffd\ufffd"}'),
        (5, "malformed_json", '{"reviewerID": "U3", "asin": "I1", "unixReviewTime": 1, "overall": 3, "x": "\x1e\x1f"}'),
    ]


def test_quarantined_raw_line_is_truncated_to_2000_characters(tmp_path, con):
    long_line = '{"reviewText": "' + "x" * 5000
    reviews = write_gz(tmp_path / REVIEWS, [long_line, review(overall=5, reviewerID="U", asin="I", unixReviewTime=1)])
    ingest_amazon2018(con, reviews, write_gz(tmp_path / META, META_LINES[:1]))

    assert con.execute("SELECT reason, raw_line FROM quarantine").fetchall() == [("malformed_json", long_line[:2000])]


def test_a_second_ingest_replaces_the_tables(tmp_path, con):
    meta = write_gz(tmp_path / META, META_LINES[:1])
    ingest_amazon2018(con, write_gz(tmp_path / REVIEWS, REVIEW_LINES), meta)
    only_one = write_gz(tmp_path / "other_5.json.gz", [review(overall=5, reviewerID="U", asin="I", unixReviewTime=1)])
    ingest_amazon2018(con, only_one, meta)

    assert con.execute("SELECT user_id, source_file, line_no FROM raw_reviews").fetchall() == [
        ("U", "other_5.json.gz", 1)
    ]
    assert con.execute("SELECT count(*) FROM quarantine").fetchall() == [(0,)]


def truncated(path: Path) -> Path:
    write_gz(path, [review(overall=5, reviewerID=f"U{i}", asin="I", unixReviewTime=i) for i in range(5000)])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def plain_text(path: Path) -> Path:
    path.write_text(REVIEW_LINES[0] + "\n")
    return path


def zero_bytes(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def empty_gzip(path: Path) -> Path:
    return write_gz(path, [])


def missing(path: Path) -> Path:
    return path


def metadata_lines(path: Path) -> Path:
    return write_gz(path, META_LINES)


def review_lines(path: Path) -> Path:
    return write_gz(path, REVIEW_LINES)


def junk_lines(path: Path) -> Path:
    return write_gz(path, ["", "nope", "[]"])


@pytest.mark.parametrize(
    ("make_reviews", "make_meta", "message"),
    [
        (truncated, metadata_lines, r"Electronics_5\.json\.gz: truncated or corrupt gzip file"),
        (plain_text, metadata_lines, r"Electronics_5\.json\.gz: not a gzip file"),
        (zero_bytes, metadata_lines, r"Electronics_5\.json\.gz: file is empty \(0 bytes\)"),
        (empty_gzip, metadata_lines, r"Electronics_5\.json\.gz: no lines \(the gzip content is empty\)"),
        (missing, metadata_lines, r"Electronics_5\.json\.gz: file not found"),
        (metadata_lines, metadata_lines,
         r"Electronics_5\.json\.gz: looks like a product metadata file, not a reviews file: 6 of 8 lines"),
        (review_lines, review_lines,
         r"meta_Electronics\.json\.gz: looks like a reviews file, not a product metadata file: 14 of 19 lines"),
        (junk_lines, metadata_lines,
         r"Electronics_5\.json\.gz: not one valid line among 3 \(empty_line: 1, malformed_json: 1, not_a_json_object: 1\)"),
        (review_lines, truncated, r"meta_Electronics\.json\.gz: truncated or corrupt gzip file"),
        (review_lines, plain_text, r"meta_Electronics\.json\.gz: not a gzip file"),
    ],
)
def test_file_level_errors_name_the_file_and_write_nothing(tmp_path, con, make_reviews, make_meta, message):
    reviews, meta = make_reviews(tmp_path / REVIEWS), make_meta(tmp_path / META)

    with pytest.raises(SourceFileError, match=message):
        ingest_amazon2018(con, reviews, meta)
    assert not any(table_exists(con, t) for t in (schema.RAW_REVIEWS, schema.RAW_ITEMS, schema.QUARANTINE))


def test_a_python_literal_with_code_is_quarantined_never_evaluated(tmp_path, con):
    """2014-style lines go through ast.literal_eval only: a call expression stays malformed_json, unexecuted."""
    sentinel = tmp_path / "executed"
    code_line = (
        f"{{'reviewerID': __import__('pathlib').Path({str(sentinel)!r}).touch(), 'asin': 'I1', "
        "'overall': 5.0, 'unixReviewTime': 1491436800}"
    )
    reviews = write_gz(tmp_path / REVIEWS, [code_line, review(overall=5, reviewerID="U", asin="I", unixReviewTime=1)])

    report = ingest_amazon2018(con, reviews, write_gz(tmp_path / META, META_LINES[:1]))

    assert not sentinel.exists()
    assert report.python_literal_lines == 0
    assert con.execute("SELECT line_no, reason, raw_line FROM quarantine").fetchall() == [
        (1, "malformed_json", code_line)
    ]


def test_a_review_line_in_the_metadata_file_is_quarantined_as_review_record(tmp_path, con):
    """Fewer lines of the other kind than valid ones: the file is accepted and those lines are quarantined."""
    meta = write_gz(tmp_path / META, [*META_LINES[:2], REVIEW_LINES[0]])

    report = ingest_amazon2018(con, write_gz(tmp_path / REVIEWS, REVIEW_LINES[:1]), meta)

    assert report.item_quarantine == {"review_record": 1}
    assert con.execute("SELECT table_name, line_no, reason FROM quarantine").fetchall() == [
        ("raw_items", 3, "review_record")
    ]


def test_a_gzip_truncated_after_the_first_block_is_a_source_file_error(tmp_path, con):
    """The error surfaces inside DuckDB's scan of the line batches, after blocks were parsed; it must still
    name the file, not arrive as DuckDB's wrapped error."""
    line = review(overall=5.0, reviewerID="U1", asin="I1", unixReviewTime=DAY).encode()
    content = gzip.compress(b"\n".join([line] * (2 * line_reader._BLOCK_BYTES // len(line))), compresslevel=1)
    reviews = tmp_path / REVIEWS
    reviews.write_bytes(content[: len(content) * 3 // 4])

    with pytest.raises(SourceFileError, match=r"Electronics_5\.json\.gz: truncated or corrupt gzip file"):
        ingest_amazon2018(con, reviews, write_gz(tmp_path / META, META_LINES[:1]))