"""From parsed-line tables to the raw tables, the quarantine and the ingest report, alike for every source.

A parsed-line table has one row per source line: line_no, reason (NULL = valid), raw_line (set
when quarantined; truncated here, so a reader may keep it whole), the raw table's columns, and
vote_unparsed (reviews) / price_unparsed (items). Every reader publishes through the SQL below, so
the raw tables and the quarantine mean the same for every source.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from hybridrec_ml.data.sources.line_reader import LineLimits, SourceFileError
from hybridrec_ml.data.sources.markup import HTML_ENTITY, HTML_TAG, SCRIPT_FRAGMENT
from hybridrec_ml.data.sources.parse_sql import RAW_LINE_CHARS
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import TableBuild, replace_tables

_LINE_STATS_SQL = "SELECT count(*), count(*) FILTER (reason IS NULL), count(*) FILTER (reason = ?) FROM {table}"
_REASON_COUNTS_SQL = "SELECT reason, count(*) FROM {table} WHERE reason IS NOT NULL GROUP BY reason ORDER BY reason"
# Duplicates are marked in place, so the valid rows are exactly those with reason IS NULL. Pairs
# whose 64-bit hash repeats are found by a cheap integer aggregate; only their rows are ranked (a
# hash collision only ranks a few more rows, each first in its own partition).
_MARK_DUPLICATE_REVIEWS_SQL = """
UPDATE {table} SET reason = 'duplicate_review'
WHERE line_no IN (
    SELECT line_no FROM {table}
    WHERE reason IS NULL AND hash(user_id, item_id) IN (
        SELECT hash(user_id, item_id) FROM {table} WHERE reason IS NULL GROUP BY 1 HAVING count(*) > 1
    )
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
SELECT '{schema.RAW_REVIEWS}', ?, line_no, reason, left(raw_line, {RAW_LINE_CHARS})
FROM {{reviews}} WHERE reason IS NOT NULL
UNION ALL
SELECT '{schema.RAW_ITEMS}', ?, line_no, reason, left(raw_line, {RAW_LINE_CHARS})
FROM {{items}} WHERE reason IS NOT NULL
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
    items: int  # rows in raw_items, one per item id
    markup_titles: int  # titles with HTML or JavaScript, kept raw (TF-IDF strips them)
    unparsed_prices: int  # non-empty prices kept as NULL
    python_literal_lines: int  # 2014-style dict lines recovered with ast.literal_eval (Amazon 2018 only)
    review_quarantine: dict[str, int] = field(default_factory=dict)
    item_quarantine: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def metadata(self) -> dict[str, int | float | str]:
        counts = {name: value for name, value in vars(self).items() if not isinstance(value, dict)}
        counts |= {f"quarantined_reviews_{reason}": n for reason, n in self.review_quarantine.items()}
        counts |= {f"quarantined_items_{reason}": n for reason, n in self.item_quarantine.items()}
        counts["quarantined"] = sum(self.review_quarantine.values()) + sum(self.item_quarantine.values())
        return counts


def line_stats(con: duckdb.DuckDBPyConnection, table: str, other_kind_reason: str | None) -> tuple[int, int, int]:
    """(lines, valid lines, lines quarantined as `other_kind_reason`) of a parsed-line table."""
    lines, valid, other_kind = con.execute(_LINE_STATS_SQL.format(table=table), [other_kind_reason]).fetchall()[0]
    return lines, valid, other_kind


def reason_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    """Quarantined lines of a parsed-line table by reason, in reason order."""
    return dict(con.execute(_REASON_COUNTS_SQL.format(table=table)).fetchall())


def reason_summary(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """`reason: n, ...` for an error message about a file without one valid line."""
    return ", ".join(f"{reason}: {n}" for reason, n in reason_counts(con, table).items())


def check_parsed_lines(
    con: duckdb.DuckDBPyConnection,
    table: str,
    path: Path,
    kind: str,
    limits: LineLimits,
    other_kind_reason: str | None = None,
) -> None:
    """Raise `SourceFileError` when `path` has no valid `kind` record, more records of the other kind,
    or more bad lines than `limits` allow.

    The first two mean the wrong file (e.g. reviews and metadata swapped), not a file with some bad lines.
    """
    lines, valid, other_kind = line_stats(con, table, other_kind_reason)
    if other_kind > valid:
        raise SourceFileError(
            f"{path}: not a {kind} file: {other_kind} of {lines} lines are {other_kind_reason}, {valid} valid"
        )
    if valid == 0:
        raise SourceFileError(f"{path}: no valid {kind} record among {lines} lines ({reason_summary(con, table)})")
    check_line_budget(con, table, path, limits)


def check_line_budget(con: duckdb.DuckDBPyConnection, table: str, path: Path, limits: LineLimits) -> None:
    """`limits` checked on the whole parsed-line table of `path` (its bad-line share included)."""
    reasons = reason_counts(con, table)
    limits.check(path, _line_count(con, table), sum(reasons.values()), reasons, complete=True)


def publish_parsed_lines(
    con: duckdb.DuckDBPyConnection,
    reviews: tuple[str, Path],
    items: tuple[str, Path],
    duplicate_item_reason: str,
    started: float,
    *,
    with_tables: Sequence[TableBuild] = (),
    python_literal_lines: int = 0,
) -> IngestReport:
    """Quarantine duplicates, rewrite raw_reviews / raw_items / quarantine from parsed-line tables, report.

    `reviews` and `items` are (parsed-line table, source path); rows record the file name. Duplicate
    (user, item) reviews keep the earliest (ties: lowest line), duplicate items the first line.
    `with_tables` are swapped in by the same transaction; `started` is the ingest's perf_counter().
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
            *with_tables,
        ],
    )[:3]
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
        python_literal_lines=python_literal_lines,
        review_quarantine=reason_counts(con, review_table),
        item_quarantine=reason_counts(con, item_table),
        seconds=round(time.perf_counter() - started, 3),
    )


def _line_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
