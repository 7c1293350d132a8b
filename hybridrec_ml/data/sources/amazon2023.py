"""Reader for Amazon Reviews 2023 JSONL files (reviews + item metadata), plain or gzip.

The 2023 release keys products by `parent_asin` (a review's `asin` is a variant of it) and writes
timestamps in milliseconds; both are normalised here so the raw tables look like any other source.
`line_reader.materialize_text_lines` reads it plain or gzip, like the MovieLens files.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from hybridrec_ml.data.sources.line_reader import LINES, LineBudget, LineLimits, materialize_text_lines
from hybridrec_ml.data.sources.parse_sql import QUARANTINED_RAW_LINE, UNREADABLE_LINE_CHECKS, json_text, parsed_price
from hybridrec_ml.data.sources.parsed_lines import IngestReport, check_parsed_lines, publish_parsed_lines

_REVIEW_LINES = "amazon2023_review_lines"
_ITEM_LINES = "amazon2023_item_lines"

_MIN_MILLISECONDS = 100_000_000_000  # 1973-03-03 in ms; a smaller value is a timestamp in seconds

_JSON_LINE_CHECKS = f"""{UNREADABLE_LINE_CHECKS}
    WHEN NOT valid_json THEN 'malformed_json'
    WHEN NOT starts_with(ltrim(line), '{{') THEN 'not_a_json_object'"""
# Each line, and whether it is JSON: fields are extracted only from valid JSON.
_SCANNED = f"""
WITH scanned AS (
    SELECT line_no, line, undecodable, too_long, NOT undecodable AND json_valid(line) AS valid_json FROM {LINES}
)"""

_REVIEWS_PARSE_SQL = f"""{_SCANNED}, extracted AS (
    SELECT line_no, line, undecodable, too_long, valid_json,
           CASE WHEN valid_json THEN json_extract_string(line, ['$.user_id', '$.parent_asin', '$.rating',
               '$.timestamp', '$.verified_purchase', '$.helpful_vote', '$.main_category']) END AS f,
           try_cast(trim(f[4]) AS BIGINT) AS ts_ms
    FROM scanned
), checked AS (
    SELECT line_no, line, f, ts_ms,
           CASE {_JSON_LINE_CHECKS}
               WHEN f[1] IS NULL AND f[7] IS NOT NULL THEN 'metadata_record'
               WHEN coalesce(f[1], '') = '' THEN 'missing_user_id'
               WHEN coalesce(f[2], '') = '' THEN 'missing_parent_asin'
               WHEN f[4] IS NULL THEN 'missing_timestamp'
               WHEN NOT regexp_full_match(trim(f[4]), '[0-9]{{1,18}}') THEN 'invalid_timestamp'
               WHEN ts_ms < {_MIN_MILLISECONDS} THEN 'timestamp_not_milliseconds'
               WHEN f[3] IS NULL THEN 'missing_rating'
               WHEN NOT coalesce(try_cast(f[3] AS DOUBLE) BETWEEN 1 AND 5, false) THEN 'invalid_rating'
           END AS reason
    FROM extracted
)
SELECT line_no, reason, {QUARANTINED_RAW_LINE},
       f[1] AS user_id,
       f[2] AS item_id,
       try_cast(f[3] AS DOUBLE) AS rating,
       ts_ms // 1000 AS ts,
       try_cast(f[5] AS BOOLEAN) AS verified,
       try_cast(f[6] AS INTEGER) AS vote,
       f[6] IS NOT NULL AND try_cast(f[6] AS INTEGER) IS NULL AS vote_unparsed
FROM checked
"""


# `categories` is empty for most 2023 products; `main_category` (the store front) then stands in.
_ITEMS_PARSE_SQL = f"""{_SCANNED}, extracted AS (
    SELECT line_no, line, undecodable, too_long, valid_json,
           CASE WHEN valid_json THEN json_extract(line, ['$.parent_asin', '$.title', '$.description', '$.features',
               '$.categories', '$.store', '$.price', '$.main_category', '$.user_id', '$.timestamp']) END AS j
    FROM scanned
), checked AS (
    SELECT line_no, line, j, j[1] ->> '$' AS item_id, trim(j[7] ->> '$') AS price_text,
           CASE {_JSON_LINE_CHECKS}
               WHEN j[9] IS NOT NULL OR j[10] IS NOT NULL THEN 'review_record'
               WHEN coalesce(j[1] ->> '$', '') = '' THEN 'missing_parent_asin'
           END AS reason
    FROM extracted
), priced AS (
    SELECT line_no, line, j, item_id, reason, price_text, {parsed_price("price_text")} AS price
    FROM checked
)
SELECT line_no, reason, {QUARANTINED_RAW_LINE},
       item_id,
       {json_text("j[2]", " ")} AS title,
       {json_text("j[3]", chr(10))} AS description,
       {json_text("j[4]", chr(10))} AS features,
       coalesce({json_text("j[5]", " | ")}, {json_text("j[8]", " | ")}) AS categories,
       {json_text("j[6]", " ")} AS brand,
       price,
       coalesce(price_text, '') <> '' AND price IS NULL AS price_unparsed
FROM priced
"""


def ingest_amazon2023(
    con: duckdb.DuckDBPyConnection, reviews_path: Path, meta_path: Path, *, limits: LineLimits = LineLimits()
) -> IngestReport:
    """Read 2023 reviews + metadata JSONL (`.jsonl` or `.jsonl.gz`) into the raw tables and quarantine.

    Reviews use `parent_asin` as item_id and `timestamp // 1000` as ts (seconds). Duplicate
    (user, item) reviews keep the earliest (ties: lowest line); duplicate parent_asins keep the
    first line. Raises `SourceFileError` for a missing, empty or corrupt file, one of the other kind, or
    one with more bad lines than `limits` allow.
    """
    started = time.perf_counter()
    reviews_path, meta_path = Path(reviews_path), Path(meta_path)
    try:
        materialize_text_lines(con, reviews_path, _REVIEW_LINES, _REVIEWS_PARSE_SQL, LineBudget(reviews_path, limits))
        check_parsed_lines(con, _REVIEW_LINES, reviews_path, "reviews", limits, "metadata_record")
        materialize_text_lines(con, meta_path, _ITEM_LINES, _ITEMS_PARSE_SQL, LineBudget(meta_path, limits))
        check_parsed_lines(con, _ITEM_LINES, meta_path, "product metadata", limits, "review_record")
        return publish_parsed_lines(
            con, (_REVIEW_LINES, reviews_path), (_ITEM_LINES, meta_path), "duplicate_parent_asin", started
        )
    finally:
        for table in (_REVIEW_LINES, _ITEM_LINES):
            con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()
