"""Numbered lines of a source file, and the whole-file errors (missing, empty, not gzip, corrupt).

A reader turns a file into a relation `(line_no, line, undecodable, too_long)` with one row per
`\\n`-terminated line, numbered from 1 as `zcat FILE | sed -n 'Np'` counts them, so every quarantined line can be
found again in its source. Its parse SQL (see `parse_sql`) turns those into a parsed-line table,
which `parsed_lines` publishes the same way for every source.
"""

from __future__ import annotations

import codecs
import gzip
import queue
import threading
import zlib
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
from isal import igzip_threaded, isal_zlib

LINES = "__lines__"  # placeholder in a reader's parse SQL for the relation of numbered lines
LINES_SCHEMA = pa.schema(
    [("line_no", pa.int64()), ("line", pa.large_string()), ("undecodable", pa.bool_()), ("too_long", pa.bool_())]
)

# Lines are split in Python and parsed by DuckDB: ISA-L inflates gzip about twice as fast as zlib
# (and than DuckDB's own gzip reader) on a thread of its own, a block of valid UTF-8 becomes an Arrow
# string column without a per-line Python object, and DuckDB parses the blocks on all its threads.
_BLOCK_BYTES = 16 << 20
_CHUNK_BATCHES = 8  # blocks parsed per DuckDB statement: work for all its threads
# A block of very short lines is parsed in slices, so the bad-line budget is checked at least every
# 1 Mi lines (a chunk): malformed lines cost DuckDB ~0.1 ms each. Real lines (~1 KB) never fill a slice.
_BATCH_ROWS = 1 << 17
_HEAD_BYTES = 8192  # what is kept of a line longer than the limit (the quarantine keeps less)
_SHARE_MIN_LINES = 1000  # the share of bad lines is judged only on files at least this long
_BAD_LINE_REASONS_SQL = (
    "SELECT reason, count(*) FROM {table} WHERE line_no >= ? AND ({bad}) GROUP BY reason ORDER BY reason"
)
_NEWLINE = ord("\n")
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_READ_ERRORS = (EOFError, zlib.error, isal_zlib.error, gzip.BadGzipFile)


class SourceFileError(ValueError):
    """A source file that cannot be read as a whole: missing, empty, not gzip, truncated, wrong kind."""


@dataclass(frozen=True)
class LineLimits:
    """What one source file may cost: the longest line read, and the bad lines tolerated before rejecting it.

    Without them a hostile or broken file (one 2 GiB line, 256 Mi empty lines) takes minutes and
    gigabytes, and fills the quarantine with rows nobody reads. Defaults sit far above real files:
    the longest Amazon review or product line is tens of kilobytes.
    """

    max_line_bytes: int = 1 << 20  # a longer line is quarantined as line_too_long, only its head kept
    max_bad_lines: int = 100_000  # more quarantined lines than this reject the file, checked as it is read
    max_bad_share: float = 0.5  # a larger share of quarantined lines rejects a file of >= 1000 lines

    def check(self, path: Path, lines: int, bad: int, reasons: dict[str, int], *, complete: bool) -> None:
        """Raise `SourceFileError` with the counts when `bad` of `lines` exceeds the budget.

        The share is judged only on a `complete` file: its first lines need not be typical.
        """
        too_many = bad > self.max_bad_lines
        too_large_share = complete and lines >= _SHARE_MIN_LINES and bad > self.max_bad_share * lines
        if too_many or too_large_share:
            where = "lines" if complete else "lines read so far"
            summary = ", ".join(f"{reason}: {n}" for reason, n in reasons.items())
            raise SourceFileError(
                f"{path}: rejected, {bad} bad lines of {lines} {where} ({bad / lines:.1%}); the budget is "
                f"{self.max_bad_lines} lines and {self.max_bad_share:.0%} of a file ({summary})"
            )


@dataclass(frozen=True)
class LineBudget:
    """`limits` applied to the lines of `path` as they are parsed; `bad_sql` is a parsed line that counts.

    A reader that re-parses some quarantined lines later (Amazon 2018's Python literals) leaves them
    out of `bad_sql`; its final count is checked again once they are settled.
    """

    path: Path
    limits: LineLimits
    bad_sql: str = "reason IS NOT NULL"


def materialize_lines(
    con: duckdb.DuckDBPyConnection, path: Path, target: str, parse_sql: str, budget: LineBudget
) -> None:
    """Create temp table `target` from `parse_sql` run over the numbered lines of gzip file `path` (UTF-8).

    `parse_sql` reads the relation `LINES`; the file is rejected as soon as it exceeds `budget`.
    """
    _check_gzip_file(path)
    _materialize_file_lines(con, path, target, parse_sql, budget, compressed=True, encoding="utf-8")


def materialize_text_lines(
    con: duckdb.DuckDBPyConnection, path: Path, target: str, parse_sql: str, budget: LineBudget, encoding: str = "utf-8"
) -> None:
    """`materialize_lines` for a file that may also be uncompressed (Amazon 2023 JSONL, MovieLens).

    Gzip content is recognised by its magic bytes, whatever the name; either is decoded with `encoding`.
    """
    compressed = is_gzip_source(path)
    _materialize_file_lines(con, path, target, parse_sql, budget, compressed=compressed, encoding=encoding)


def _materialize_file_lines(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    target: str,
    parse_sql: str,
    budget: LineBudget,
    *,
    compressed: bool,
    encoding: str,
) -> None:
    try:
        with _open_binary(path, compressed) as stream:
            lines = text_line_batches(stream, encoding, max_line_bytes=budget.limits.max_line_bytes)
            materialize_line_batches(con, _read_ahead(lines, depth=_CHUNK_BATCHES), target, parse_sql, budget)
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
    con: duckdb.DuckDBPyConnection,
    batches: Iterable[pa.RecordBatch],
    target: str,
    parse_sql: str,
    budget: LineBudget | None = None,
) -> None:
    """Create temp table `target` from `parse_sql` over record batches in `LINES_SCHEMA`.

    DuckDB scans an Arrow stream on one thread but an Arrow table on all of them, so the batches are
    parsed a chunk (a table of a few batches) per statement, in order. After each chunk the bad
    lines so far are checked against `budget`, so a file of junk stops within a chunk of lines.
    """
    view = f"{target}__lines"
    statement = f"CREATE OR REPLACE TEMP TABLE {target} AS " + parse_sql.replace(LINES, view)
    lines, bad, reasons = 0, 0, dict[str, int]()
    for chunk in _tables_of(batches, _CHUNK_BATCHES):
        con.register(view, chunk)
        try:
            con.execute(statement).fetchall()
        finally:
            con.unregister(view)
        statement = f"INSERT INTO {target} " + parse_sql.replace(LINES, view)
        if budget is not None and chunk.num_rows:
            first_line_no = chunk.column("line_no")[0].as_py()
            sql = _BAD_LINE_REASONS_SQL.format(table=target, bad=budget.bad_sql)
            for reason, n in con.execute(sql, [first_line_no]).fetchall():
                reasons[reason] = reasons.get(reason, 0) + n
                bad += n
            lines += chunk.num_rows
            budget.limits.check(budget.path, lines, bad, reasons, complete=False)


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
    return pa.record_batch([line_nos, lines, undecodable, [False] * len(lines)], schema=LINES_SCHEMA)


def text_line_batches(
    stream: BinaryIO, encoding: str, block_bytes: int = _BLOCK_BYTES, max_line_bytes: int = LineLimits.max_line_bytes
) -> Iterator[pa.RecordBatch]:
    """`LINES_SCHEMA` batches of a binary stream, at most `_BATCH_ROWS` lines each.

    Lines are split on `\\n` only (a `\\r` stays in its line) and numbered from 1; a last line without
    `\\n` still counts. Undecodable bytes become U+FFFD and flag their line. A line longer than
    `max_line_bytes` is flagged `too_long` and only its head is kept: it is never assembled whole.
    Time is linear in the file size, however long a line is.
    """
    line_no = 1
    pending = _PendingLine(max_line_bytes)
    while block := stream.read(block_bytes):
        first = block.find(b"\n")
        if first < 0:
            pending.extend(block)
            continue
        if pending:
            pending.extend(block[:first])
            yield pending.take(line_no, encoding)
            line_no += 1
            block = block[first + 1 :]
        cut = block.rfind(b"\n") + 1
        if cut:
            for batch in _block_batches(line_no, block, cut, encoding, max_line_bytes):
                line_no += batch.num_rows
                yield batch
        pending.extend(block[cut:])  # unterminated so far; completed by a later block
    if pending:
        yield pending.take(line_no, encoding)


class _PendingLine:
    """The unterminated line so far, as pieces joined once when it ends (so linear in its length).

    Bytes past what a line may hold (or its head, if longer) are counted, not stored.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.pieces: list[bytes] = []
        self.size = 0  # bytes seen
        self.kept = 0  # bytes stored in `pieces`

    def __bool__(self) -> bool:
        return self.size > 0

    def extend(self, piece: bytes) -> None:
        room = max(self.max_bytes + 1, _HEAD_BYTES) - self.kept
        if room > 0 and piece:
            self.pieces.append(piece[:room])
            self.kept += len(self.pieces[-1])
        self.size += len(piece)

    def take(self, line_no: int, encoding: str) -> pa.RecordBatch:
        """The completed line as a one-row batch; the pending line is empty again."""
        raw, too_long = b"".join(self.pieces), self.size > self.max_bytes
        self.pieces, self.size, self.kept = [], 0, 0
        if too_long:
            return _too_long_batch(line_no, raw, encoding)
        return _block_batch(line_no, raw + b"\n", len(raw) + 1, encoding)


def _too_long_batch(line_no: int, raw: bytes, encoding: str) -> pa.RecordBatch:
    """One over-long line as its head (a character cut at the end becomes U+FFFD)."""
    head = raw[:_HEAD_BYTES].decode(encoding, errors="replace")
    return pa.record_batch([[line_no], [head], [False], [True]], schema=LINES_SCHEMA)


def _block_batches(
    first_line_no: int, block: bytes, cut: int, encoding: str, max_line_bytes: int
) -> Iterator[pa.RecordBatch]:
    """The lines of `block[:cut]` (which ends with `\\n`): runs of normal lines, each over-long line alone."""
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8, count=cut) == _NEWLINE)
    lengths = np.diff(ends, prepend=-1) - 1
    line_no, start, next_index = first_line_no, 0, 0
    for index in np.flatnonzero(lengths > max_line_bytes).tolist():
        if index > next_index:
            end = int(ends[index - 1]) + 1
            yield from _sliced(_block_batch(line_no, block[start:end], end - start, encoding))
            line_no += index - next_index
        begin = int(ends[index] - lengths[index])
        yield _too_long_batch(line_no, block[begin : min(begin + _HEAD_BYTES, int(ends[index]))], encoding)
        line_no, start, next_index = line_no + 1, int(ends[index]) + 1, index + 1
    if next_index < len(ends):
        rest = block if start == 0 else block[start:cut]
        yield from _sliced(_block_batch(line_no, rest, cut - start, encoding))


def _sliced(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """`batch` in zero-copy slices of at most `_BATCH_ROWS` lines."""
    for offset in range(0, batch.num_rows, _BATCH_ROWS):
        yield batch.slice(offset, _BATCH_ROWS)


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
            flags = np.zeros(len(ends), dtype=bool)
            return pa.record_batch([line_nos, lines, flags, flags], schema=LINES_SCHEMA)
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
