"""Numbered lines of a source file, and the whole-file errors (missing, empty, not gzip, corrupt).

A reader turns a file into a relation `(line_no, line, undecodable)` with one row per `\\n`-terminated
line, numbered from 1 as `zcat FILE | sed -n 'Np'` counts them, so every quarantined line can be
found again in its source. Its parse SQL (see `parse_sql`) turns those into a parsed-line table,
which `parsed_lines` publishes the same way for every source.
"""

from __future__ import annotations

import codecs
import gzip
import queue
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
from isal import igzip_threaded, isal_zlib

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
