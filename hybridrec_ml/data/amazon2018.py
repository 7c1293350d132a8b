"""Reader for Amazon Reviews 2018 files (`*_5.json.gz` reviews, `meta_*.json.gz` metadata).

DuckDB reads and parses the lines; only lines that are not JSON reach Python, where 2014-style
Python dict literals are recovered with `ast.literal_eval`. No line is dropped silently: each one
lands in `raw_reviews` / `raw_items` or in `quarantine` with its line number and a reason.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from hybridrec_ml.data import schema
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

_REVIEW_LINES = "amazon2018_review_lines"
_ITEM_LINES = "amazon2018_item_lines"
_RECOVERED_LINES = "amazon2018_recovered_lines"

# The first failing test names the reason; nested CASEs keep string work (trim, ltrim) off the
# valid lines, which matters at millions of lines per second on a single-threaded gzip scan. JSON is
# parsed once per line: try() turns a parse error into a NULL extraction.


def _unparsed_line(parsed: str) -> str:
    """SQL WHEN clauses: undecodable, blank and malformed lines (`parsed` is the try() extraction)."""
    return f"""
    WHEN undecodable THEN 'invalid_utf8'
    WHEN {parsed} IS NULL THEN CASE WHEN coalesce(trim(line), '') = '' THEN 'empty_line' ELSE 'malformed_json' END"""


def _unless_not_object(reason: str) -> str:
    """SQL: `reason` for a JSON object, 'not_a_json_object' for an array or scalar (whose fields are all NULL)."""
    return f"CASE WHEN NOT starts_with(ltrim(line), '{{') THEN 'not_a_json_object' ELSE {reason} END"


def _integral(number: str, upper: str) -> str:
    """SQL: `number` (DOUBLE) when it is a whole number in [0, upper], else NULL."""
    return f"CASE WHEN isfinite({number}) AND {number} = floor({number}) AND {number} BETWEEN 0 AND {upper} THEN {number} END"


# `raw_line` keeps malformed lines whole so that Python literals can be recovered; the quarantine
# truncates them.
_RAW_LINE = f"""
    CASE WHEN reason IS NULL THEN NULL WHEN reason = 'malformed_json' THEN line ELSE left(line, {RAW_LINE_CHARS}) END"""

# Numbers are read through DOUBLE so that a fraction is refused instead of rounded; a timestamp is
# any whole number of seconds below 1e15, a vote a whole number after removing thousands separators.
_REVIEWS_PARSE_SQL = f"""
WITH extracted AS (
    SELECT line_no, line, undecodable,
           try(json_extract_string(line, ['$.reviewerID', '$.asin', '$.overall', '$.unixReviewTime',
                                          '$.verified', '$.vote', '$.title'])) AS f,
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


def _json_text(value: str, separator: str) -> str:
    """SQL: a JSON string as text, a JSON list as its non-empty elements joined; '' and [] become NULL."""
    return f"""nullif(trim(CASE json_type({value})
        WHEN 'ARRAY' THEN array_to_string(list_filter(from_json({value}, '["VARCHAR"]'), lambda s: trim(s) <> ''),
                                          '{separator}')
        WHEN 'OBJECT' THEN NULL
        ELSE {value} ->> '$' END), '')"""


_ITEMS_PARSE_SQL = f"""
WITH extracted AS (
    SELECT line_no, line, undecodable,
           try(json_extract(line, ['$.asin', '$.title', '$.description', '$.feature', '$.category', '$.brand',
                                   '$.price', '$.reviewerID', '$.unixReviewTime'])) AS j,
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
    SELECT line_no, line, j, item_id, reason, price_text,
           try_cast(replace(nullif(regexp_extract(price_text, '^\\$?\\s*([0-9][0-9,]*(\\.[0-9]+)?)$', 1), ''), ',', '')
                    AS DOUBLE) AS price
    FROM checked
)
SELECT line_no, reason, {_RAW_LINE} AS raw_line,
       item_id,
       {_json_text("j[2]", " ")} AS title,
       {_json_text("j[3]", chr(10))} AS description,
       {_json_text("j[4]", chr(10))} AS features,
       {_json_text("j[5]", " | ")} AS categories,
       {_json_text("j[6]", " ")} AS brand,
       price,
       coalesce(price_text, '') <> '' AND price IS NULL AS price_unparsed
FROM priced
"""

# 2014-style lines are Python reprs of dicts: they open with a single-quoted key.
_RECOVERABLE_SQL = """
SELECT line_no, raw_line FROM {table}
WHERE reason = 'malformed_json' AND starts_with(ltrim(raw_line), '{{' || chr(39))
"""
_DELETE_RECOVERED_SQL = "DELETE FROM {table} WHERE line_no IN (SELECT line_no FROM {recovered})"
_INSERT_RECOVERED_SQL = "INSERT INTO {table} SELECT * FROM {recovered}"  # same parse SQL, same columns
# Duplicates are marked in place, so the valid rows are exactly those with reason IS NULL. Pairs
# whose 64-bit hash repeats are found by a cheap integer aggregate; only their rows are ranked.
_MARK_DUPLICATE_REVIEWS_SQL = f"""
UPDATE {_REVIEW_LINES} SET reason = 'duplicate_review'
WHERE line_no IN (
    SELECT line_no FROM {_REVIEW_LINES}
    WHERE reason IS NULL AND hash(user_id, item_id) IN (
        SELECT hash(user_id, item_id) FROM {_REVIEW_LINES} WHERE reason IS NULL GROUP BY 1 HAVING count(*) > 1
    )
    QUALIFY row_number() OVER (PARTITION BY user_id, item_id ORDER BY ts, line_no) > 1
)
"""
_MARK_DUPLICATE_ITEMS_SQL = f"""
UPDATE {_ITEM_LINES} SET reason = 'duplicate_asin'
WHERE line_no IN (
    SELECT line_no FROM {_ITEM_LINES}
    WHERE reason IS NULL
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY line_no) > 1
)
"""
_LINE_STATS_SQL = "SELECT count(*), count(*) FILTER (reason IS NULL), count(*) FILTER (reason = ?) FROM {table}"
_REASON_COUNTS_SQL = "SELECT reason, count(*) FROM {table} WHERE reason IS NOT NULL GROUP BY reason ORDER BY reason"
_RAW_REVIEWS_SQL = f"""
SELECT user_id, item_id, rating, ts, verified, vote, ?, line_no FROM {_REVIEW_LINES} WHERE reason IS NULL
"""
_RAW_ITEMS_SQL = f"""
SELECT item_id, title, description, features, categories, brand, price, ?, line_no FROM {_ITEM_LINES}
WHERE reason IS NULL
"""
_QUARANTINE_SQL = f"""
SELECT '{schema.RAW_REVIEWS}', ?, line_no, reason, left(raw_line, {RAW_LINE_CHARS})
FROM {_REVIEW_LINES} WHERE reason IS NOT NULL
UNION ALL
SELECT '{schema.RAW_ITEMS}', ?, line_no, reason, left(raw_line, {RAW_LINE_CHARS})
FROM {_ITEM_LINES} WHERE reason IS NOT NULL
ORDER BY 1, 3
"""
_REVIEW_STATS_SQL = f"""
SELECT count(DISTINCT user_id), count(DISTINCT item_id), min(ts), max(ts),
       (SELECT count(*) FROM {_REVIEW_LINES} WHERE vote_unparsed AND reason IS NULL)
FROM {schema.RAW_REVIEWS}
"""
_ITEM_STATS_SQL = f"""
SELECT count(*) FILTER (regexp_matches(title, ?) OR regexp_matches(title, ?) OR regexp_matches(title, ?)),
       (SELECT count(*) FROM {_ITEM_LINES} WHERE price_unparsed AND reason IS NULL)
FROM {schema.RAW_ITEMS}
"""


@dataclass(frozen=True)
class IngestReport:
    """What one ingest wrote, and what it quarantined by reason."""

    review_lines: int
    reviews: int  # rows in raw_reviews, one per (user, item)
    users: int
    items_reviewed: int
    first_ts: int
    last_ts: int
    unparsed_votes: int  # kept with vote NULL
    item_lines: int
    items: int  # rows in raw_items, one per asin
    markup_titles: int  # titles with HTML or JavaScript, kept raw (TF-IDF strips them)
    unparsed_prices: int  # non-empty prices kept as NULL
    python_literal_lines: int  # 2014-style dict lines recovered with ast.literal_eval
    review_quarantine: dict[str, int] = field(default_factory=dict)
    item_quarantine: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def metadata(self) -> dict[str, int | float | str]:
        counts = {name: value for name, value in vars(self).items() if not isinstance(value, dict)}
        counts |= {f"quarantined_reviews_{reason}": n for reason, n in self.review_quarantine.items()}
        counts |= {f"quarantined_items_{reason}": n for reason, n in self.item_quarantine.items()}
        counts["quarantined"] = sum(self.review_quarantine.values()) + sum(self.item_quarantine.values())
        return counts


def ingest_amazon2018(
    con: duckdb.DuckDBPyConnection, reviews_path: Path, meta_path: Path, *, with_tables: Sequence[TableBuild] = ()
) -> IngestReport:
    """Read both files into `raw_reviews`, `raw_items` and `quarantine` (all three rewritten atomically).

    `with_tables` are swapped in by the same transaction (the synthetic ground truth, which must
    never describe other data than the raw tables next to it).

    Duplicate (user, item) reviews keep the earliest (ties: lowest line); duplicate asins keep the
    first line. Raises `SourceFileError` for a file that is missing, empty, not gzip, truncated, or
    of the other kind (reviews passed as metadata or vice versa).
    """
    started = time.perf_counter()
    reviews_path, meta_path = Path(reviews_path), Path(meta_path)
    try:
        materialize_lines(con, reviews_path, _REVIEW_LINES, _REVIEWS_PARSE_SQL)
        recovered = _recover_python_literals(con, _REVIEW_LINES, _REVIEWS_PARSE_SQL, reviews_path)
        review_lines = _check_file_kind(con, _REVIEW_LINES, reviews_path, "reviews", "metadata_record")
        materialize_lines(con, meta_path, _ITEM_LINES, _ITEMS_PARSE_SQL)
        recovered += _recover_python_literals(con, _ITEM_LINES, _ITEMS_PARSE_SQL, meta_path)
        item_lines = _check_file_kind(con, _ITEM_LINES, meta_path, "product metadata", "review_record")
        con.execute(_MARK_DUPLICATE_REVIEWS_SQL).fetchall()
        con.execute(_MARK_DUPLICATE_ITEMS_SQL).fetchall()

        reviews, items, _ = replace_tables(
            con,
            [
                TableBuild(schema.RAW_REVIEWS, schema.RAW_REVIEWS_COLUMNS, _RAW_REVIEWS_SQL, [reviews_path.name]),
                TableBuild(schema.RAW_ITEMS, schema.RAW_ITEMS_COLUMNS, _RAW_ITEMS_SQL, [meta_path.name]),
                TableBuild(
                    schema.QUARANTINE, schema.QUARANTINE_COLUMNS, _QUARANTINE_SQL, [reviews_path.name, meta_path.name]
                ),
                *with_tables,
            ],
        )[:3]
        users, items_reviewed, first_ts, last_ts, unparsed_votes = con.execute(_REVIEW_STATS_SQL).fetchall()[0]
        markup_titles, unparsed_prices = con.execute(
            _ITEM_STATS_SQL, [HTML_TAG, HTML_ENTITY, SCRIPT_FRAGMENT]
        ).fetchall()[0]
        return IngestReport(
            review_lines=review_lines,
            reviews=reviews,
            users=users,
            items_reviewed=items_reviewed,
            first_ts=first_ts,
            last_ts=last_ts,
            unparsed_votes=unparsed_votes,
            item_lines=item_lines,
            items=items,
            markup_titles=markup_titles,
            unparsed_prices=unparsed_prices,
            python_literal_lines=recovered,
            review_quarantine=_reason_counts(con, _REVIEW_LINES),
            item_quarantine=_reason_counts(con, _ITEM_LINES),
            seconds=round(time.perf_counter() - started, 3),
        )
    finally:
        for table in (_REVIEW_LINES, _ITEM_LINES, _RECOVERED_LINES):
            con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()


def _recover_python_literals(con: duckdb.DuckDBPyConnection, table: str, parse_sql: str, path: Path) -> int:
    """Re-parse malformed lines that are Python dict literals (2014 format) as their JSON equivalent.

    Returns how many were recovered; a recovered line then passes the same field checks as any other.
    """
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
    materialize_line_batches(con, [batch], _RECOVERED_LINES, parse_sql, path)
    con.execute(_DELETE_RECOVERED_SQL.format(table=table, recovered=_RECOVERED_LINES)).fetchall()
    con.execute(_INSERT_RECOVERED_SQL.format(table=table, recovered=_RECOVERED_LINES)).fetchall()
    return len(lines)


def _check_file_kind(con: duckdb.DuckDBPyConnection, table: str, path: Path, kind: str, other_kind_reason: str) -> int:
    """Raise `SourceFileError` when `path` holds no valid `kind` record or more records of the other kind.

    Returns the number of lines.
    """
    lines, valid, other_kind = con.execute(_LINE_STATS_SQL.format(table=table), [other_kind_reason]).fetchall()[0]
    if lines == 0:
        raise SourceFileError(f"{path}: no lines (the gzip content is empty)")
    if other_kind > valid:
        other = "product metadata" if kind == "reviews" else "reviews"
        raise SourceFileError(
            f"{path}: looks like a {other} file, not a {kind} file: {other_kind} of {lines} lines are {other} records"
        )
    if valid == 0:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in _reason_counts(con, table).items())
        raise SourceFileError(f"{path}: not one valid line among {lines} ({reasons})")
    return lines


def _reason_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    return dict(con.execute(_REASON_COUNTS_SQL.format(table=table)).fetchall())
