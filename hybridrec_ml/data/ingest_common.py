"""What line-oriented readers share: numbered lines of a gzip file, file-level errors, markup patterns.

A reader turns a `*.json.gz` file into a relation `(line_no, line, undecodable)` with one row per
`\\n`-terminated line, numbered from 1 as `zcat FILE | sed -n 'Np'` counts them, so every
quarantined line can be found again in its source.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

RAW_LINE_CHARS = 2000  # quarantine.raw_line keeps this much of an offending line

# RE2 patterns (DuckDB regexp_*) for markup that leaks into product text: the reader counts titles
# that contain any of it, and TF-IDF strips it before tokenising.
SCRIPT_BLOCK = r"(?is)<(script|style)\b.*?</(script|style)\s*>"
HTML_TAG = r"(?i)</?[a-z!][^<>]*>"
HTML_ENTITY = r"(?i)&(#[0-9]+|#x[0-9a-f]+|[a-z][a-z0-9]*);"
SCRIPT_FRAGMENT = r"getTime\s*\(|function\s*\(|\bdocument\.|\bwindow\.|\bvar\s+[A-Za-z_$][\w$]*\s*="

LINES = "__lines__"  # placeholder in a reader's parse SQL for the relation of numbered lines
LINES_SCHEMA = pa.schema([("line_no", pa.int64()), ("line", pa.string()), ("undecodable", pa.bool_())])

# One VARCHAR per line. Strict mode with `\n` as the only terminator and a control-character
# delimiter (never raw inside valid JSON) makes DuckDB fail loudly on a stray `\r`, on the delimiter,
# on invalid UTF-8 or on a line over max_line_size instead of splitting it; `materialize_lines` then
# falls back to Python. Each reader thread holds buffers proportional to max_line_size (256 MiB cost
# 6.7 GB of RSS), so it stays modest. A gzip stream is decoded by one thread in file order, so
# ordinality is the line number.
_FAST_LINES_SQL = """
SELECT ordinality::BIGINT AS line_no, line, false AS undecodable
FROM read_csv($path, columns = {'line': 'VARCHAR'}, header = false, auto_detect = false,
              delim = $delim, quote = '', escape = '', comment = '', new_line = '\\n',
              strict_mode = true, compression = 'gzip', max_line_size = 8388608) WITH ORDINALITY
"""
_DELIMITER = "\x1e\x1f"
_GZIP_MAGIC = b"\x1f\x8b"
_FALLBACK_BATCH_LINES = 65536
_GZIP_READ_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


class SourceFileError(ValueError):
    """A source file that cannot be read as a whole: missing, empty, not gzip, truncated, wrong kind."""


def materialize_lines(con: duckdb.DuckDBPyConnection, path: Path, target: str, parse_sql: str) -> None:
    """Create temp table `target` from `parse_sql` run over the numbered lines of gzip file `path`.

    `parse_sql` reads the relation `LINES`. DuckDB's CSV scan is tried first; when it refuses a
    line (stray carriage return, control characters, invalid UTF-8, over 8 MiB) the exact but
    slower Python splitter re-reads the file.
    """
    _check_gzip_file(path)
    sql = f"CREATE OR REPLACE TEMP TABLE {target} AS " + parse_sql.replace(LINES, f"({_FAST_LINES_SQL})")
    try:
        _execute_reading(con, path, sql, {"path": str(path), "delim": _DELIMITER})
    except duckdb.InvalidInputException:
        materialize_line_batches(con, _python_line_batches(path), target, parse_sql, path)


def materialize_line_batches(
    con: duckdb.DuckDBPyConnection, batches: Iterable[pa.RecordBatch], target: str, parse_sql: str, path: Path
) -> None:
    """`materialize_lines` over record batches in `LINES_SCHEMA` (the fallback, or lines recovered in Python)."""
    view = f"{target}__lines"
    read_errors: list[Exception] = []

    def recording_read_errors() -> Iterator[pa.RecordBatch]:
        # DuckDB wraps whatever the batch generator raises in its own error; keep the original.
        try:
            yield from batches
        except _GZIP_READ_ERRORS as error:
            read_errors.append(error)
            raise

    con.register(view, pa.RecordBatchReader.from_batches(LINES_SCHEMA, recording_read_errors()))
    try:
        _execute_reading(con, path, f"CREATE OR REPLACE TEMP TABLE {target} AS " + parse_sql.replace(LINES, view), {})
    except duckdb.Error as error:
        if read_errors:
            raise _corrupt_gzip(path, read_errors[0]) from error
        raise
    finally:
        con.unregister(view)


def line_batch(line_nos: list[int], lines: list[str], undecodable: list[bool]) -> pa.RecordBatch:
    return pa.record_batch([line_nos, lines, undecodable], schema=LINES_SCHEMA)


def _check_gzip_file(path: Path) -> None:
    """Fail early, naming the file, on what would otherwise surface as an anonymous IO error."""
    if not path.is_file():
        raise SourceFileError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise SourceFileError(f"{path}: file is empty (0 bytes)")
    with path.open("rb") as stream:
        if stream.read(2) != _GZIP_MAGIC:
            raise SourceFileError(f"{path}: not a gzip file (expected .json.gz, one JSON object per line)")


def _execute_reading(con: duckdb.DuckDBPyConnection, path: Path, sql: str, params: dict[str, str]) -> None:
    try:
        con.execute(sql, params).fetchall()
    except (duckdb.IOException, *_GZIP_READ_ERRORS) as error:
        raise _corrupt_gzip(path, error) from error


def _corrupt_gzip(path: Path, error: Exception) -> SourceFileError:
    return SourceFileError(f"{path}: truncated or corrupt gzip file ({error})")


def _python_line_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """Lines split on `\\n` only (binary mode); invalid UTF-8 is decoded with U+FFFD and flagged."""
    line_nos: list[int] = []
    lines: list[str] = []
    undecodable: list[bool] = []
    with gzip.open(path, "rb") as stream:
        for line_no, raw in enumerate(stream, start=1):
            raw = raw.removesuffix(b"\n")
            try:
                text, bad = raw.decode("utf-8"), False
            except UnicodeDecodeError:
                text, bad = raw.decode("utf-8", errors="replace"), True
            line_nos.append(line_no)
            lines.append(text)
            undecodable.append(bad)
            if len(lines) == _FALLBACK_BATCH_LINES:
                yield line_batch(line_nos, lines, undecodable)
                line_nos, lines, undecodable = [], [], []
    if lines:
        yield line_batch(line_nos, lines, undecodable)
