"""Reader for Amazon Reviews 2023 JSONL files (reviews + item metadata), plain or gzip.

The 2023 release keys products by `parent_asin` (a review's `asin` is a variant of it) and writes
timestamps in milliseconds; both are normalised here so the raw tables look like any other source.
The parsed-line tables and their publishing step are shared with the MovieLens reader.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from hybridrec_ml.data import schema
from hybridrec_ml.data.amazon2018 import IngestReport
from hybridrec_ml.data.ingest_common import (
    HTML_ENTITY,
    HTML_TAG,
    LINES,
    RAW_LINE_CHARS,
    SCRIPT_FRAGMENT,
    SourceFileError,
    line_batch,
    materialize_line_batches,
    materialize_lines,
)
from hybridrec_ml.data.warehouse import TableBuild, replace_tables

_REVIEW_LINES = "amazon2023_review_lines"
_ITEM_LINES = "amazon2023_item_lines"

_GZIP_MAGIC = b"\x1f\x8b"
_MIN_MILLISECONDS = 100_000_000_000  # 1973-03-03 in ms; a smaller value is a timestamp in seconds

_JSON_LINE_CHECKS = """
    WHEN undecodable THEN 'invalid_utf8'
    WHEN coalesce(trim(line), '') = '' THEN 'empty_line'
    WHEN NOT valid_json THEN 'malformed_json'
    WHEN NOT starts_with(ltrim(line), '{') THEN 'not_a_json_object'"""

_REVIEWS_PARSE_SQL = f"""
WITH scanned AS (
    SELECT line_no, line, undecodable, NOT undecodable AND json_valid(line) AS valid_json
    FROM {LINES}
), extracted AS (
    SELECT line_no, line, undecodable, valid_json,
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
SELECT line_no, reason, CASE WHEN reason IS NOT NULL THEN nullif(left(line, {RAW_LINE_CHARS}), '') END AS raw_line,
       f[1] AS user_id,
       f[2] AS item_id,
       try_cast(f[3] AS DOUBLE) AS rating,
       ts_ms // 1000 AS ts,
       try_cast(f[5] AS BOOLEAN) AS verified,
       try_cast(f[6] AS INTEGER) AS vote,
       f[6] IS NOT NULL AND try_cast(f[6] AS INTEGER) IS NULL AS vote_unparsed
FROM checked
"""


def _json_text(value: str, separator: str) -> str:
    """SQL: a JSON string as text, a JSON list as its non-empty elements joined; '', [] and {} become NULL."""
    return f"""nullif(trim(CASE json_type({value})
        WHEN 'ARRAY' THEN array_to_string(list_filter(from_json({value}, '["VARCHAR"]'), lambda s: trim(s) <> ''),
                                          '{separator}')
        WHEN 'OBJECT' THEN NULL
        ELSE {value} ->> '$' END), '')"""


# `categories` is empty for most 2023 products; `main_category` (the store front) then stands in.
_ITEMS_PARSE_SQL = f"""
WITH scanned AS (
    SELECT line_no, line, undecodable, NOT undecodable AND json_valid(line) AS valid_json
    FROM {LINES}
), extracted AS (
    SELECT line_no, line, undecodable, valid_json,
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
    SELECT line_no, line, j, item_id, reason, price_text,
           try_cast(replace(nullif(regexp_extract(price_text, '^\\$?\\s*([0-9][0-9,]*(\\.[0-9]+)?)$', 1), ''), ',', '')
                    AS DOUBLE) AS price
    FROM checked
)
SELECT line_no, reason, CASE WHEN reason IS NOT NULL THEN nullif(left(line, {RAW_LINE_CHARS}), '') END AS raw_line,
       item_id,
       {_json_text("j[2]", " ")} AS title,
       {_json_text("j[3]", chr(10))} AS description,
       {_json_text("j[4]", chr(10))} AS features,
       coalesce({_json_text("j[5]", " | ")}, {_json_text("j[8]", " | ")}) AS categories,
       {_json_text("j[6]", " ")} AS brand,
       price,
       coalesce(price_text, '') <> '' AND price IS NULL AS price_unparsed
FROM priced
"""


def ingest_amazon2023(con: duckdb.DuckDBPyConnection, reviews_path: Path, meta_path: Path) -> IngestReport:
    """Read 2023 reviews + metadata JSONL (`.jsonl` or `.jsonl.gz`) into the raw tables and quarantine.

    Reviews use `parent_asin` as item_id and `timestamp // 1000` as ts (seconds). Duplicate
    (user, item) reviews keep the earliest (ties: lowest line); duplicate parent_asins keep the
    first line. Raises `SourceFileError` for a missing, empty or corrupt file, or one of the other kind.
    """
    started = time.perf_counter()
    reviews_path, meta_path = Path(reviews_path), Path(meta_path)
    try:
        materialize_text_lines(con, reviews_path, _REVIEW_LINES, _REVIEWS_PARSE_SQL)
        check_parsed_lines(con, _REVIEW_LINES, reviews_path, "reviews", "metadata_record")
        materialize_text_lines(con, meta_path, _ITEM_LINES, _ITEMS_PARSE_SQL)
        check_parsed_lines(con, _ITEM_LINES, meta_path, "product metadata", "review_record")
        return publish_parsed_lines(
            con, (_REVIEW_LINES, reviews_path), (_ITEM_LINES, meta_path), "duplicate_parent_asin", started
        )
    finally:
        for table in (_REVIEW_LINES, _ITEM_LINES):
            con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()


# --- Shared with the MovieLens reader -------------------------------------------------------------
# A parsed-line table has one row per source line: line_no, reason (NULL = valid), raw_line (set
# when quarantined), the raw table's columns, and vote_unparsed (reviews) / price_unparsed (items).

_LINE_STATS_SQL = "SELECT count(*), count(*) FILTER (reason IS NULL), count(*) FILTER (reason = ?) FROM {table}"
_REASON_COUNTS_SQL = "SELECT reason, count(*) FROM {table} WHERE reason IS NOT NULL GROUP BY reason ORDER BY reason"
# Duplicates are marked in place, so the valid rows are exactly those with reason IS NULL.
_MARK_DUPLICATE_REVIEWS_SQL = """
UPDATE {table} SET reason = 'duplicate_review'
WHERE line_no IN (
    SELECT line_no FROM {table} WHERE reason IS NULL
    QUALIFY row_number() OVER (PARTITION BY user_id, item_id ORDER BY ts, line_no) > 1
)
"""
_MARK_DUPLICATE_ITEMS_SQL = """
UPDATE {table} SET reason = ?
WHERE line_no IN (
    SELECT line_no FROM {table} WHERE reason IS NULL
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY line_no) > 1
)
"""
_RAW_REVIEWS_SQL = "SELECT user_id, item_id, rating, ts, verified, vote, ?, line_no FROM {table} WHERE reason IS NULL"
_RAW_ITEMS_SQL = """
SELECT item_id, title, description, features, categories, brand, price, ?, line_no FROM {table} WHERE reason IS NULL
"""
_QUARANTINE_SQL = f"""
SELECT '{schema.RAW_REVIEWS}', ?, line_no, reason, raw_line FROM {{reviews}} WHERE reason IS NOT NULL
UNION ALL
SELECT '{schema.RAW_ITEMS}', ?, line_no, reason, raw_line FROM {{items}} WHERE reason IS NOT NULL
ORDER BY 1, 3
"""
_REVIEW_STATS_SQL = f"""
SELECT count(DISTINCT user_id), count(DISTINCT item_id), min(ts), max(ts),
       (SELECT count(*) FROM {{table}} WHERE vote_unparsed AND reason IS NULL)
FROM {schema.RAW_REVIEWS}
"""
_ITEM_STATS_SQL = f"""
SELECT count(*) FILTER (regexp_matches(title, ?) OR regexp_matches(title, ?) OR regexp_matches(title, ?)),
       (SELECT count(*) FROM {{table}} WHERE price_unparsed AND reason IS NULL)
FROM {schema.RAW_ITEMS}
"""


def materialize_text_lines(
    con: duckdb.DuckDBPyConnection, path: Path, target: str, parse_sql: str, encoding: str = "utf-8"
) -> None:
    """`ingest_common.materialize_lines` for a file that may also be uncompressed.

    Gzip content (recognised by its magic bytes, whatever the name) goes to the shared gzip reader
    (UTF-8); a plain file is split on `\\n` here and decoded with `encoding`.
    """
    if not path.is_file():
        raise SourceFileError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise SourceFileError(f"{path}: file is empty (0 bytes)")
    with path.open("rb") as stream:
        is_gzip = stream.read(2) == _GZIP_MAGIC
    if is_gzip:
        materialize_lines(con, path, target, parse_sql)
    else:
        materialize_line_batches(con, plain_line_batches(path, encoding), target, parse_sql, path)


def plain_line_batches(path: Path, encoding: str, block_bytes: int = 8 << 20) -> Iterator[pa.RecordBatch]:
    """`ingest_common.LINES_SCHEMA` batches of an uncompressed file, one per block read.

    Lines are split on `\\n` only and numbered from 1; undecodable bytes become U+FFFD and are flagged.
    """
    next_line_no = 1
    tail = b""
    with path.open("rb") as stream:
        while block := stream.read(block_bytes):
            raw_lines = (tail + block).split(b"\n")
            tail = raw_lines.pop()  # unterminated so far; completed by the next block
            if raw_lines:
                yield _decoded_batch(next_line_no, raw_lines, encoding)
                next_line_no += len(raw_lines)
    if tail:
        yield _decoded_batch(next_line_no, [tail], encoding)


def _decoded_batch(first_line_no: int, raw_lines: list[bytes], encoding: str) -> pa.RecordBatch:
    try:  # the common case: the whole block decodes, so decode it in one call
        lines = b"\n".join(raw_lines).decode(encoding).split("\n")
        undecodable = [False] * len(lines)
    except UnicodeDecodeError:
        lines, undecodable = [], []
        for raw in raw_lines:
            try:
                lines.append(raw.decode(encoding))
                undecodable.append(False)
            except UnicodeDecodeError:
                lines.append(raw.decode(encoding, errors="replace"))
                undecodable.append(True)
    line_nos = list(range(first_line_no, first_line_no + len(lines)))
    return line_batch(line_nos, lines, undecodable)


def check_parsed_lines(
    con: duckdb.DuckDBPyConnection, table: str, path: Path, kind: str, other_kind_reason: str | None = None
) -> None:
    """Raise `SourceFileError` when `path` has no valid `kind` record or more records of the other kind.

    Such a file is the wrong file (e.g. reviews and metadata swapped), not a file with some bad lines.
    """
    lines, valid, other_kind = con.execute(_LINE_STATS_SQL.format(table=table), [other_kind_reason]).fetchall()[0]
    if other_kind > valid:
        raise SourceFileError(
            f"{path}: not a {kind} file: {other_kind} of {lines} lines are {other_kind_reason}, {valid} valid"
        )
    if valid > 0:
        return
    reasons = ", ".join(f"{reason}: {n}" for reason, n in _reason_counts(con, table).items())
    raise SourceFileError(f"{path}: no valid {kind} record among {lines} lines ({reasons})")


def publish_parsed_lines(
    con: duckdb.DuckDBPyConnection,
    reviews: tuple[str, Path],
    items: tuple[str, Path],
    duplicate_item_reason: str,
    started: float,
) -> IngestReport:
    """Quarantine duplicates, rewrite raw_reviews / raw_items / quarantine from parsed-line tables, report.

    `reviews` and `items` are (parsed-line table, source path); rows record the file name.
    """
    (review_table, reviews_path), (item_table, items_path) = reviews, items
    con.execute(_MARK_DUPLICATE_REVIEWS_SQL.format(table=review_table)).fetchall()
    con.execute(_MARK_DUPLICATE_ITEMS_SQL.format(table=item_table), [duplicate_item_reason]).fetchall()
    quarantine_sql = _QUARANTINE_SQL.format(reviews=review_table, items=item_table)
    review_count, item_count, _ = replace_tables(
        con,
        [
            TableBuild(
                schema.RAW_REVIEWS, schema.RAW_REVIEWS_COLUMNS, _RAW_REVIEWS_SQL.format(table=review_table),
                [reviews_path.name],
            ),
            TableBuild(
                schema.RAW_ITEMS, schema.RAW_ITEMS_COLUMNS, _RAW_ITEMS_SQL.format(table=item_table), [items_path.name]
            ),
            TableBuild(
                schema.QUARANTINE, schema.QUARANTINE_COLUMNS, quarantine_sql, [reviews_path.name, items_path.name]
            ),
        ],
    )
    users, items_reviewed, first_ts, last_ts, unparsed_votes = con.execute(
        _REVIEW_STATS_SQL.format(table=review_table)
    ).fetchall()[0]
    markup_titles, unparsed_prices = con.execute(
        _ITEM_STATS_SQL.format(table=item_table), [HTML_TAG, HTML_ENTITY, SCRIPT_FRAGMENT]
    ).fetchall()[0]
    return IngestReport(
        review_lines=_line_count(con, review_table),
        reviews=review_count,
        users=users,
        items_reviewed=items_reviewed,
        first_ts=first_ts,
        last_ts=last_ts,
        unparsed_votes=unparsed_votes,
        item_lines=_line_count(con, item_table),
        items=item_count,
        markup_titles=markup_titles,
        unparsed_prices=unparsed_prices,
        python_literal_lines=0,
        review_quarantine=_reason_counts(con, review_table),
        item_quarantine=_reason_counts(con, item_table),
        seconds=round(time.perf_counter() - started, 3),
    )


def _line_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _reason_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    return dict(con.execute(_REASON_COUNTS_SQL.format(table=table)).fetchall())
