"""What line-oriented readers share: numbered lines of a source file, file-level errors, markup
patterns, SQL fragments, and the step from parsed-line tables to the raw tables.

A reader turns a file into a relation `(line_no, line, undecodable)` with one row per `\\n`-terminated
line, numbered from 1 as `zcat FILE | sed -n 'Np'` counts them, so every quarantined line can be
found again in its source. Its parse SQL turns those into a parsed-line table;
`check_parsed_lines` and `publish_parsed_lines` do the rest the same way for every source.
"""

from __future__ import annotations

import codecs
import gzip
import queue
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
from isal import igzip_threaded, isal_zlib

from hybridrec_ml.data import schema
from hybridrec_ml.data.warehouse import TableBuild, replace_tables

RAW_LINE_CHARS = 2000  # quarantine.raw_line keeps this much of an offending line

# RE2 patterns (DuckDB regexp_*) for markup that leaks into product text: the reader counts titles
# that contain any of it, and TF-IDF strips it before tokenising.
SCRIPT_BLOCK = r"(?is)<(script|style)\b.*?</(script|style)\s*>"
HTML_TAG = r"(?i)</?[a-z!][^<>]*>"
HTML_ENTITY = r"(?i)&(#[0-9]+|#x[0-9a-f]+|[a-z][a-z0-9]*);"
SCRIPT_FRAGMENT = r"getTime\s*\(|function\s*\(|\bdocument\.|\bwindow\.|\bvar\s+[A-Za-z_$][\w$]*\s*="

LINES = "__lines__"  # placeholder in a reader's parse SQL for the relation of numbered lines
LINES_SCHEMA = pa.schema([("line_no", pa.int64()), ("line", pa.large_string()), ("undecodable", pa.bool_())])

# Lines are split in Python and parsed by DuckDB: ISA-L inflates gzip about twice as fast as zlib
# (and than DuckDB's own gzip reader) on a thread of its own, a block of valid UTF-8 becomes an Arrow
# string column without a per-line Python object, and DuckDB parses the blocks on all its threads.
_BLOCK_BYTES = 16 << 20
_CHUNK_BATCHES = 8  # blocks parsed per DuckDB statement: work for all its threads
_NEWLINE = ord("\n")
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_READ_ERRORS = (EOFError, zlib.error, isal_zlib.error, gzip.BadGzipFile)


class SourceFileError(ValueError):
    """A source file that cannot be read as a whole: missing, empty, not gzip, truncated, wrong kind."""


def materialize_lines(con: duckdb.DuckDBPyConnection, path: Path, target: str, parse_sql: str) -> None:
    """Create temp table `target` from `parse_sql` run over the numbered lines of gzip file `path` (UTF-8).

    `parse_sql` reads the relation `LINES`.
    """
    _check_gzip_file(path)
    _materialize_file_lines(con, path, target, parse_sql, compressed=True, encoding="utf-8")


def materialize_text_lines(
    con: duckdb.DuckDBPyConnection, path: Path, target: str, parse_sql: str, encoding: str = "utf-8"
) -> None:
    """`materialize_lines` for a file that may also be uncompressed (Amazon 2023 JSONL, MovieLens).

    Gzip content is recognised by its magic bytes, whatever the name; either is decoded with `encoding`.
    """
    compressed = is_gzip_source(path)
    _materialize_file_lines(con, path, target, parse_sql, compressed=compressed, encoding=encoding)


def _materialize_file_lines(
    con: duckdb.DuckDBPyConnection, path: Path, target: str, parse_sql: str, *, compressed: bool, encoding: str
) -> None:
    try:
        with _open_binary(path, compressed) as stream:
            batches = _read_ahead(text_line_batches(stream, encoding), depth=_CHUNK_BATCHES)
            materialize_line_batches(con, batches, target, parse_sql)
    except _GZIP_READ_ERRORS as error:
        raise _corrupt_gzip(path, error) from error


def _open_binary(path: Path, compressed: bool) -> AbstractContextManager[BinaryIO]:
    """The file's bytes; gzip is inflated by ISA-L on a background thread, so parsing overlaps it."""
    return igzip_threaded.open(path, "rb", threads=1) if compressed else path.open("rb")


def _read_ahead(batches: Iterator[pa.RecordBatch], depth: int = 4) -> Iterator[pa.RecordBatch]:
    """`batches`, produced up to `depth` ahead on a thread of their own.

    So the next chunk is inflated and split while DuckDB parses the current one. The producer is
    stopped and joined before this generator finishes, so the stream it reads can be closed right after.
    """
    ready: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(depth)
    stop = threading.Event()

    def offer(item: pa.RecordBatch | BaseException | None) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for batch in batches:
                offer(batch)
                if stop.is_set():
                    return
            offer(None)
        except BaseException as error:  # handed to the consumer, which raises it
            offer(error)

    producer = threading.Thread(target=produce, name="line-batches", daemon=True)
    producer.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join()


def materialize_line_batches(
    con: duckdb.DuckDBPyConnection, batches: Iterable[pa.RecordBatch], target: str, parse_sql: str
) -> None:
    """Create temp table `target` from `parse_sql` over record batches in `LINES_SCHEMA`.

    DuckDB scans an Arrow stream on one thread but an Arrow table on all of them, so the batches are
    parsed a chunk (a table of a few batches) per statement, in order.
    """
    view = f"{target}__lines"
    statement = f"CREATE OR REPLACE TEMP TABLE {target} AS " + parse_sql.replace(LINES, view)
    for chunk in _tables_of(batches, _CHUNK_BATCHES):
        con.register(view, chunk)
        try:
            con.execute(statement).fetchall()
        finally:
            con.unregister(view)
        statement = f"INSERT INTO {target} " + parse_sql.replace(LINES, view)


def _tables_of(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    """`batches` grouped `size` at a time into tables; the last one may be empty, so there is at least one."""
    chunk: list[pa.RecordBatch] = []
    for batch in batches:
        chunk.append(batch)
        if len(chunk) == size:
            yield pa.Table.from_batches(chunk, LINES_SCHEMA)
            chunk = []
    yield pa.Table.from_batches(chunk, LINES_SCHEMA)


def line_batch(line_nos: list[int], lines: list[str], undecodable: list[bool]) -> pa.RecordBatch:
    return pa.record_batch([line_nos, lines, undecodable], schema=LINES_SCHEMA)


def text_line_batches(stream: BinaryIO, encoding: str, block_bytes: int = _BLOCK_BYTES) -> Iterator[pa.RecordBatch]:
    """`LINES_SCHEMA` batches of a binary stream, one per block read.

    Lines are split on `\\n` only (a `\\r` stays in its line) and numbered from 1; a last line without
    `\\n` still counts. Undecodable bytes become U+FFFD and flag their line.
    """
    next_line_no = 1
    tail = b""
    while block := stream.read(block_bytes):
        block = tail + block
        cut = block.rfind(b"\n") + 1
        tail = block[cut:]  # unterminated so far; completed by the next block
        if cut:
            batch = _block_batch(next_line_no, block, cut, encoding)
            next_line_no += batch.num_rows
            yield batch
    if tail:
        yield _block_batch(next_line_no, tail + b"\n", len(tail) + 1, encoding)


def _block_batch(first_line_no: int, block: bytes, cut: int, encoding: str) -> pa.RecordBatch:
    """The lines of `block[:cut]` (which ends with `\\n`) as one batch."""
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8, count=cut) == _NEWLINE)
    if codecs.lookup(encoding).name == "utf-8":
        lines = _utf8_lines(block, ends)
        try:
            lines.validate(full=True)  # checks UTF-8
        except pa.ArrowInvalid:
            pass
        else:
            line_nos = np.arange(first_line_no, first_line_no + len(ends), dtype=np.int64)
            return pa.record_batch([line_nos, lines, np.zeros(len(ends), dtype=bool)], schema=LINES_SCHEMA)
    return _decoded_batch(first_line_no, block[:cut].split(b"\n")[:-1], encoding)


def _utf8_lines(block: bytes, ends: np.ndarray) -> pa.Array:
    """The lines ending at the newlines `ends` as an Arrow string column over one copy of `block`.

    Removing every newline shifts line i left by i bytes, so its offsets follow from `ends` alone.
    """
    offsets = np.zeros(len(ends) + 1, dtype=np.int64)
    offsets[1:] = ends - np.arange(len(ends))
    data = block.replace(b"\n", b"")  # bytes after the last newline stay, unreferenced
    return pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))


def _decoded_batch(first_line_no: int, raw_lines: list[bytes], encoding: str) -> pa.RecordBatch:
    """Lines decoded one by one in Python: another encoding, or a block with invalid UTF-8."""
    try:  # the whole block decodes: one call
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


def is_gzip_source(path: Path) -> bool:
    """Whether `path` starts with the gzip magic bytes; `SourceFileError` naming a missing or empty file.

    Fails early on what would otherwise surface as an anonymous IO error.
    """
    if not path.is_file():
        raise SourceFileError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise SourceFileError(f"{path}: file is empty (0 bytes)")
    with path.open("rb") as stream:
        return stream.read(2) == _GZIP_MAGIC


def _check_gzip_file(path: Path) -> None:
    if not is_gzip_source(path):
        raise SourceFileError(f"{path}: not a gzip file (expected .json.gz, one JSON object per line)")


def _corrupt_gzip(path: Path, error: Exception) -> SourceFileError:
    return SourceFileError(f"{path}: truncated or corrupt gzip file ({error})")


# --- Parse SQL fragments ---------------------------------------------------------------------------
# Shared so that the same kind of bad line gets the same reason, and the same value the same
# column, whichever source it comes from.

# SQL WHEN clauses for what no line format can hold: invalid UTF-8 and blank lines.
UNREADABLE_LINE_CHECKS = """
    WHEN undecodable THEN 'invalid_utf8'
    WHEN coalesce(trim(line), '') = '' THEN 'empty_line'"""

# SQL column `raw_line`: the start of a quarantined line (NULL when valid or empty).
QUARANTINED_RAW_LINE = f"CASE WHEN reason IS NOT NULL THEN nullif(left(line, {RAW_LINE_CHARS}), '') END AS raw_line"


def json_text(value: str, separator: str) -> str:
    """SQL: a JSON string as text, a JSON list as its non-empty elements joined; '', [] and {} become NULL."""
    return f"""nullif(trim(CASE json_type({value})
        WHEN 'ARRAY' THEN array_to_string(list_filter(from_json({value}, '["VARCHAR"]'), lambda s: trim(s) <> ''),
                                          '{separator}')
        WHEN 'OBJECT' THEN NULL
        ELSE {value} ->> '$' END), '')"""


def parsed_price(text: str) -> str:
    """SQL: a price text such as `$1,299.00` or `12` as DOUBLE; anything else (ranges, "None") NULL."""
    return f"""try_cast(replace(nullif(regexp_extract({text}, '^\\$?\\s*([0-9][0-9,]*(\\.[0-9]+)?)$', 1), ''), ',', '')
                    AS DOUBLE)"""


# --- Parsed-line tables ----------------------------------------------------------------------------
# A parsed-line table has one row per source line: line_no, reason (NULL = valid), raw_line (set
# when quarantined; truncated here, so a reader may keep it whole), the raw table's columns, and
# vote_unparsed (reviews) / price_unparsed (items). Every reader publishes through the SQL below, so
# the raw tables and the quarantine mean the same for every source.

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
    con: duckdb.DuckDBPyConnection, table: str, path: Path, kind: str, other_kind_reason: str | None = None
) -> None:
    """Raise `SourceFileError` when `path` has no valid `kind` record or more records of the other kind.

    Such a file is the wrong file (e.g. reviews and metadata swapped), not a file with some bad lines.
    """
    lines, valid, other_kind = line_stats(con, table, other_kind_reason)
    if other_kind > valid:
        raise SourceFileError(
            f"{path}: not a {kind} file: {other_kind} of {lines} lines are {other_kind_reason}, {valid} valid"
        )
    if valid == 0:
        raise SourceFileError(f"{path}: no valid {kind} record among {lines} lines ({reason_summary(con, table)})")


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
