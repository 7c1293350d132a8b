"""Hostile or broken source files end fast, in bounded memory, with the documented outcome.

The bombs are scaled-down versions of those in bench/hostile_ingest.py (which runs them full size):
the outcome is the same, only the size differs.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from hybridrec_ml.data.sources.amazon2018 import ingest_amazon2018
from hybridrec_ml.data.sources.line_reader import LineLimits, SourceFileError
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import table_exists
from tests.ml.data.sources.test_amazon2018 import DAY, META, META_LINES, REVIEWS, review, write_gz

VALID = review(overall=5.0, reviewerID="U1", asin="I1", unixReviewTime=DAY)


def gzip_stream(path: Path, pieces) -> Path:
    """A gzip file of `pieces` (bytes) written as they come: a bomb never held inflated in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as out:
        for piece in pieces:
            out.write(packer.compress(piece))
        out.write(packer.flush())
    return path


def dict_literal(size: int) -> str:
    """A 2014-style review line of about `size` characters: a Python dict with a long list."""
    head = "{'reviewerID': 'U2', 'asin': 'I1', 'overall': 4.0, 'unixReviewTime': 1491436800, 'helpful': ["
    return head + "1, " * ((size - len(head)) // 3) + "1]}"


def quarantine(con) -> list[tuple]:
    return con.execute("SELECT table_name, line_no, reason, length(raw_line) FROM quarantine ORDER BY 1, 2").fetchall()


def test_a_line_over_the_limit_is_quarantined_as_line_too_long_with_its_head(tmp_path, con):
    """A 1.5 MB dict literal (default limit 1 MiB): never assembled, never given to ast.literal_eval."""
    literal = dict_literal(1_500_000)
    reviews = write_gz(tmp_path / REVIEWS, [VALID, literal])

    report = ingest_amazon2018(con, reviews, write_gz(tmp_path / META, META_LINES[:1]))

    assert report.review_quarantine == {"line_too_long": 1}
    assert con.execute("SELECT line_no, reason, raw_line FROM quarantine").fetchall() == [
        (2, "line_too_long", literal[:2000])
    ]


def test_the_line_limit_is_configurable(tmp_path, con):
    longer = review(overall=5.0, reviewerID="U2", asin="I1", unixReviewTime=DAY, summary="one byte too many")
    reviews = write_gz(tmp_path / REVIEWS, [VALID, longer])
    meta = write_gz(tmp_path / META, ['{"asin": "I1"}'])

    ingest_amazon2018(con, reviews, meta, limits=LineLimits(max_line_bytes=len(VALID)))

    assert quarantine(con) == [("raw_reviews", 2, "line_too_long", len(longer))]


def test_a_long_python_literal_is_not_evaluated(tmp_path, con):
    """300 KB is under the line limit but over the literal cap (ast.literal_eval takes ~500x the size)."""
    literal = dict_literal(300_000)
    reviews = write_gz(tmp_path / REVIEWS, [VALID, literal, dict_literal(500)])

    report = ingest_amazon2018(con, reviews, write_gz(tmp_path / META, META_LINES[:1]))

    assert report.python_literal_lines == 1  # the short one
    assert quarantine(con) == [("raw_reviews", 2, "python_literal_too_long", 2000)]


def test_a_gzip_inflating_to_one_huge_line_is_one_quarantined_line(tmp_path, con):
    """64 MiB of one line from a 64 KB gzip (the bench runs 2 GiB): linear time, one block of memory."""
    block = b"x" * (1 << 20)
    reviews = gzip_stream(tmp_path / REVIEWS, [VALID.encode() + b"\n", *([block] * 64), b"\n"])

    report = ingest_amazon2018(con, reviews, write_gz(tmp_path / META, META_LINES[:1]))

    assert (report.reviews, report.review_lines, report.review_quarantine) == (1, 2, {"line_too_long": 1})
    assert quarantine(con) == [("raw_reviews", 2, "line_too_long", 2000)]


def test_a_gzip_of_millions_of_empty_lines_is_rejected_with_the_counts_before_writing(tmp_path, con):
    """4 Mi empty lines after a valid one (the bench runs 256 Mi): rejected on the bad-line count after the
    first chunk (1 Mi lines) parsed, nothing written."""
    reviews = gzip_stream(tmp_path / REVIEWS, [VALID.encode() + b"\n", *([b"\n" * (1 << 20)] * 4)])

    with pytest.raises(SourceFileError) as raised:
        ingest_amazon2018(con, reviews, write_gz(tmp_path / META, META_LINES[:1]))

    assert str(raised.value) == (
        f"{reviews}: rejected, 1048575 bad lines of 1048576 lines read so far (100.0%); the budget is 100000 lines "
        "and 50% of a file (empty_line: 1048575)"
    )
    assert not any(table_exists(con, t) for t in (schema.RAW_REVIEWS, schema.RAW_ITEMS, schema.QUARANTINE))


@pytest.mark.parametrize(
    ("limits", "outcome"),
    [
        (LineLimits(), "rejected, 600 bad lines of 1000 lines (60.0%); the budget is 100000 lines and 50% of a file "
                       "(malformed_json: 300, not_a_json_object: 300)"),
        (LineLimits(max_bad_share=0.6), None),
        (LineLimits(max_bad_lines=599, max_bad_share=1.0), "rejected, 600 bad lines of 1000 lines read so far (60.0%)"),
    ],
)
def test_a_file_over_the_bad_line_share_is_rejected_with_the_counts(tmp_path, con, limits, outcome):
    good = [review(overall=5.0, reviewerID=f"U{n}", asin="I1", unixReviewTime=DAY) for n in range(400)]
    reviews = write_gz(tmp_path / REVIEWS, [*good, *(["not json", "[1]"] * 300)])
    meta = write_gz(tmp_path / META, META_LINES[:1])

    if outcome is None:
        assert ingest_amazon2018(con, reviews, meta, limits=limits).review_quarantine == {
            "malformed_json": 300, "not_a_json_object": 300
        }
    else:
        with pytest.raises(SourceFileError, match=rf"^{reviews}: {outcome}".replace("(", r"\(").replace(")", r"\)")):
            ingest_amazon2018(con, reviews, meta, limits=limits)
        assert not table_exists(con, schema.RAW_REVIEWS)


def test_a_2014_style_file_is_not_rejected_for_its_python_literals(tmp_path, con):
    """Literals are bad lines only once recovery fails: a whole 2014 file stays within the budget."""
    literals = [dict_literal(200).replace("'U2'", f"'U{n}'") for n in range(1500)]
    reviews = write_gz(tmp_path / REVIEWS, literals)

    meta = write_gz(tmp_path / META, META_LINES[:1])
    report = ingest_amazon2018(con, reviews, meta, limits=LineLimits(max_bad_lines=10))

    assert (report.reviews, report.python_literal_lines, report.review_quarantine) == (1500, 1500, {})
