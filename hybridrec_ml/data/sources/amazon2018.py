"""Reader for Amazon Reviews 2018 files (`*_5.json.gz` reviews, `meta_*.json.gz` metadata).

DuckDB parses the lines that `line_reader` splits; only lines that are not JSON come back to
Python, where 2014-style Python dict literals are recovered with `ast.literal_eval`. No line is dropped silently: each one
lands in `raw_reviews` / `raw_items` or in `quarantine` with its line number and a reason.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb

from hybridrec_ml.data.sources.line_reader import (
    LINES,
    LineBudget,
    LineLimits,
    SourceFileError,
    line_batch,
    materialize_line_batches,
    materialize_lines,
)
from hybridrec_ml.data.sources.parse_sql import RAW_LINE_CHARS, json_text, parsed_price
from hybridrec_ml.data.sources.parsed_lines import (
    IngestReport,
    check_line_budget,
    line_stats,
    publish_parsed_lines,
    reason_summary,
)
from hybridrec_ml.data.warehouse.tables import TableBuild

_REVIEW_LINES = "amazon2018_review_lines"
_ITEM_LINES = "amazon2018_item_lines"
_RECOVERED_LINES = "amazon2018_recovered_lines"

# The first failing test names the reason; nested CASEs keep string work (trim, ltrim) off the
# valid lines, which matters at millions of lines per second. JSON is parsed once per line: try()
# turns a parse error into a NULL extraction. A failed try() costs ~0.1 ms (an exception), so lines
# that cannot be JSON (empty, over-long) skip it: a file of millions of empty lines parses fast.


def _unparsed_line(parsed: str) -> str:
    """SQL WHEN clauses: over-long, undecodable, blank and malformed lines (`parsed` is the try() extraction)."""
    return f"""
    WHEN too_long THEN 'line_too_long'
    WHEN undecodable THEN 'invalid_utf8'
    WHEN {parsed} IS NULL THEN CASE WHEN coalesce(trim(line), '') = '' THEN 'empty_line' ELSE 'malformed_json' END"""


def _unless_not_object(reason: str) -> str:
    """SQL: `reason` for a JSON object, 'not_a_json_object' for an array or scalar (whose fields are all NULL)."""
    return f"CASE WHEN NOT starts_with(ltrim(line), '{{') THEN 'not_a_json_object' ELSE {reason} END"


def _integral(number: str, upper: str) -> str:
    """SQL: `number` (DOUBLE) when it is a whole number in [0, upper], else NULL."""
    return f"CASE WHEN isfinite({number}) AND {number} = floor({number}) AND {number} BETWEEN 0 AND {upper} THEN {number} END"


# `raw_line` keeps malformed lines whole so that Python literals can be recovered; the quarantine
# truncates them. An empty line has no raw_line (NULL), as in every reader.
_RAW_LINE = f"""
    CASE WHEN reason IS NULL THEN NULL WHEN reason = 'malformed_json' THEN line
         ELSE nullif(left(line, {RAW_LINE_CHARS}), '') END"""

# Numbers are read through DOUBLE so that a fraction is refused instead of rounded; a timestamp is
# any whole number of seconds below 1e15, a vote a whole number after removing thousands separators.
_REVIEWS_PARSE_SQL = f"""
WITH extracted AS (
    SELECT line_no, line, undecodable, too_long,
           CASE WHEN line <> '' AND NOT too_long THEN try(json_extract_string(line, ['$.reviewerID', '$.asin',
               '$.overall', '$.unixReviewTime', '$.verified', '$.vote', '$.title'])) END AS f,
           try_cast(f[3] AS DOUBLE) AS rating,
           {_integral("try_cast(f[4] AS DOUBLE)", "1e15")}::BIGINT AS ts,
           {_integral("try_cast(replace(f[6], ',', '') AS DOUBLE)", "2147483647")}::INTEGER AS vote
    FROM {LINES}
), checked AS (
    SELECT line_no, line, f, rating, ts, vote,
           CASE {_unparsed_line("f")}
               WHEN coalesce(f[1], '') = '' THEN {_unless_not_object(
                   "CASE WHEN f[7] IS NOT NULL THEN 'metadata_record' ELSE 'missing_reviewerID' END")}
               WHEN coalesce(f[2], '') = '' THEN 'missing_asin'
               WHEN f[4] IS NULL THEN 'missing_unixReviewTime'
               WHEN ts IS NULL THEN 'invalid_unixReviewTime'
               WHEN f[3] IS NULL THEN 'missing_overall'
               WHEN NOT coalesce(rating BETWEEN 1 AND 5, false) THEN 'invalid_overall'
           END AS reason
    FROM extracted
)
SELECT line_no, reason, {_RAW_LINE} AS raw_line,
       f[1] AS user_id,
       f[2] AS item_id,
       rating,
       ts,
       try_cast(f[5] AS BOOLEAN) AS verified,
       vote,
       f[6] IS NOT NULL AND vote IS NULL AS vote_unparsed
FROM checked
"""


_ITEMS_PARSE_SQL = f"""
WITH extracted AS (
    SELECT line_no, line, undecodable, too_long,
           CASE WHEN line <> '' AND NOT too_long THEN try(json_extract(line, ['$.asin', '$.title', '$.description',
               '$.feature', '$.category', '$.brand', '$.price', '$.reviewerID', '$.unixReviewTime'])) END AS j,
           j[1] ->> '$' AS item_id
    FROM {LINES}
), checked AS (
    SELECT line_no, line, j, item_id, trim(j[7] ->> '$') AS price_text,
           CASE {_unparsed_line("j")}
               WHEN j[8] IS NOT NULL OR j[9] IS NOT NULL THEN 'review_record'
               WHEN coalesce(item_id, '') = '' THEN {_unless_not_object("'missing_asin'")}
           END AS reason
    FROM extracted
), priced AS (
    SELECT line_no, line, j, item_id, reason, price_text, {parsed_price("price_text")} AS price
    FROM checked
)
SELECT line_no, reason, {_RAW_LINE} AS raw_line,
       item_id,
       {json_text("j[2]", " ")} AS title,
       {json_text("j[3]", chr(10))} AS description,
       {json_text("j[4]", chr(10))} AS features,
       {json_text("j[5]", " | ")} AS categories,
       {json_text("j[6]", " ")} AS brand,
       price,
       coalesce(price_text, '') <> '' AND price IS NULL AS price_unparsed
FROM priced
"""

# 2014-style lines are Python reprs of dicts: they open with a single-quoted key. They count as bad
# lines only once recovery has failed. `ast.literal_eval` takes ~500x a line's size in memory, so a
# longer literal than _LITERAL_MAX_CHARS (far above a real 2014 line) is not tried.
_LITERAL_MAX_CHARS = 100_000
_PYTHON_LITERAL = "reason = 'malformed_json' AND starts_with(ltrim(raw_line), '{' || chr(39))"
_NOT_PENDING_LITERAL = f"reason IS NOT NULL AND NOT coalesce({_PYTHON_LITERAL}, false)"
_LITERAL_TOO_LONG_SQL = f"""
UPDATE {{table}} SET reason = 'python_literal_too_long'
WHERE {_PYTHON_LITERAL.replace("{", "{{")} AND length(raw_line) > {_LITERAL_MAX_CHARS}
"""
_RECOVERABLE_SQL = f"SELECT line_no, raw_line FROM {{table}} WHERE {_PYTHON_LITERAL.replace('{', '{{')}"
_DELETE_RECOVERED_SQL = "DELETE FROM {table} WHERE line_no IN (SELECT line_no FROM {recovered})"
_INSERT_RECOVERED_SQL = "INSERT INTO {table} SELECT * FROM {recovered}"  # same parse SQL, same columns


def ingest_amazon2018(
    con: duckdb.DuckDBPyConnection,
    reviews_path: Path,
    meta_path: Path,
    *,
    with_tables: Sequence[TableBuild] = (),
    limits: LineLimits = LineLimits(),
) -> IngestReport:
    """Read both files into `raw_reviews`, `raw_items` and `quarantine` (all three rewritten atomically).

    `with_tables` are swapped in by the same transaction (the synthetic ground truth, which must
    never describe other data than the raw tables next to it).

    Duplicate (user, item) reviews keep the earliest (ties: lowest line); duplicate asins keep the
    first line. Raises `SourceFileError` for a file that is missing, empty, not gzip, truncated, or
    of the other kind (reviews passed as metadata or vice versa), or with more bad lines than `limits` allow.
    """
    started = time.perf_counter()
    reviews_path, meta_path = Path(reviews_path), Path(meta_path)
    try:
        materialize_lines(con, reviews_path, _REVIEW_LINES, _REVIEWS_PARSE_SQL, _budget(reviews_path, limits))
        recovered = _recover_python_literals(con, _REVIEW_LINES, _REVIEWS_PARSE_SQL)
        _check_file_kind(con, _REVIEW_LINES, reviews_path, "reviews", "metadata_record", limits)
        materialize_lines(con, meta_path, _ITEM_LINES, _ITEMS_PARSE_SQL, _budget(meta_path, limits))
        recovered += _recover_python_literals(con, _ITEM_LINES, _ITEMS_PARSE_SQL)
        _check_file_kind(con, _ITEM_LINES, meta_path, "product metadata", "review_record", limits)
        return publish_parsed_lines(
            con,
            (_REVIEW_LINES, reviews_path),
            (_ITEM_LINES, meta_path),
            "duplicate_asin",
            started,
            with_tables=with_tables,
            python_literal_lines=recovered,
        )
    finally:
        for table in (_REVIEW_LINES, _ITEM_LINES, _RECOVERED_LINES):
            con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()


def _budget(path: Path, limits: LineLimits) -> LineBudget:
    """Python literals are not bad lines yet while the file is read: recovery comes after."""
    return LineBudget(path, limits, _NOT_PENDING_LITERAL)


def _recover_python_literals(con: duckdb.DuckDBPyConnection, table: str, parse_sql: str) -> int:
    """Re-parse malformed lines that are Python dict literals (2014 format) as their JSON equivalent.

    Returns how many were recovered; a recovered line then passes the same field checks as any other.
    A literal longer than `_LITERAL_MAX_CHARS` is quarantined as python_literal_too_long untried.
    """
    con.execute(_LITERAL_TOO_LONG_SQL.format(table=table)).fetchall()
    line_nos: list[int] = []
    lines: list[str] = []
    for line_no, raw_line in con.execute(_RECOVERABLE_SQL.format(table=table)).fetchall():
        try:
            value = ast.literal_eval(raw_line)
            if isinstance(value, dict):
                lines.append(json.dumps(value, allow_nan=False))
                line_nos.append(line_no)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue  # stays quarantined as malformed_json
    if not lines:
        return 0
    batch = line_batch(line_nos, lines, [False] * len(lines))
    materialize_line_batches(con, [batch], _RECOVERED_LINES, parse_sql)
    con.execute(_DELETE_RECOVERED_SQL.format(table=table, recovered=_RECOVERED_LINES)).fetchall()
    con.execute(_INSERT_RECOVERED_SQL.format(table=table, recovered=_RECOVERED_LINES)).fetchall()
    return len(lines)


def _check_file_kind(
    con: duckdb.DuckDBPyConnection, table: str, path: Path, kind: str, other_kind_reason: str, limits: LineLimits
) -> None:
    """Raise `SourceFileError` when `path` holds no valid `kind` record, more records of the other kind,
    or more bad lines than `limits` allow."""
    lines, valid, other_kind = line_stats(con, table, other_kind_reason)
    if lines == 0:
        raise SourceFileError(f"{path}: no lines (the gzip content is empty)")
    if other_kind > valid:
        other = "product metadata" if kind == "reviews" else "reviews"
        raise SourceFileError(
            f"{path}: looks like a {other} file, not a {kind} file: {other_kind} of {lines} lines are {other} records"
        )
    if valid == 0:
        raise SourceFileError(f"{path}: not one valid line among {lines} ({reason_summary(con, table)})")
    check_line_budget(con, table, path, limits)
