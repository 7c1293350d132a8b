"""The line splitter every reader shares: numbering, block boundaries, decoding, the read-ahead thread."""

from __future__ import annotations

import gzip
import io
import threading
import tracemalloc
from pathlib import Path

import pytest

from hybridrec_ml.data.sources import line_reader
from hybridrec_ml.data.sources.line_reader import text_line_batches

CONTENT = "café au lait\n\nzweite Zeile\r\n".encode() + b"bad \xe9 byte\nlast, unterminated"
EXPECTED = [
    {"line_no": 1, "line": "café au lait", "undecodable": False, "too_long": False},
    {"line_no": 2, "line": "", "undecodable": False, "too_long": False},
    {"line_no": 3, "line": "zweite Zeile\r", "undecodable": False, "too_long": False},
    {"line_no": 4, "line": "bad \ufffd byte", "undecodable": True, "too_long": False},
    {"line_no": 5, "line": "last, unterminated", "undecodable": False, "too_long": False},
]


def rows(stream: io.BufferedIOBase, block_bytes: int, encoding: str = "utf-8") -> list[dict]:
    return [row for batch in text_line_batches(stream, encoding, block_bytes) for row in batch.to_pylist()]


@pytest.mark.parametrize("block_bytes", [5, 17, 1 << 20])
def test_lines_survive_block_boundaries(block_bytes: int) -> None:
    """Small blocks split lines and multi-byte characters; one block holds the valid and the invalid line."""
    assert rows(io.BytesIO(CONTENT), block_bytes) == EXPECTED


def test_a_block_keeps_blank_and_whitespace_only_lines_and_numbers_them() -> None:
    content = "ä\n{\"k\": 1}\n\n  \nlast\n".encode()

    batches = list(text_line_batches(io.BytesIO(content), "utf-8", 1 << 20))

    assert len(batches) == 1
    assert batches[0].column("line").to_pylist() == ["ä", '{"k": 1}', "", "  ", "last"]
    assert batches[0].column("line_no").to_pylist() == [1, 2, 3, 4, 5]


def test_another_encoding_is_decoded_per_block() -> None:
    assert rows(io.BytesIO("Café\nRené".encode("latin-1")), 3, "latin-1") == [
        {"line_no": 1, "line": "Café", "undecodable": False, "too_long": False},
        {"line_no": 2, "line": "René", "undecodable": False, "too_long": False},
    ]


def test_gzip_and_plain_files_read_the_same(tmp_path: Path) -> None:
    plain, packed = tmp_path / "lines.txt", tmp_path / "lines.txt.gz"
    plain.write_bytes(CONTENT)
    packed.write_bytes(gzip.compress(CONTENT))
    for path, compressed in ((plain, False), (packed, True)):
        with line_reader._open_binary(path, compressed) as stream:
            assert rows(stream, 7) == EXPECTED


def test_read_ahead_stops_its_producer_when_the_consumer_stops_early() -> None:
    produced: list[int] = []

    def endless():
        while True:
            produced.append(len(produced))
            yield len(produced)

    batches = line_reader._read_ahead(endless(), depth=2)
    assert next(batches) == 1
    batches.close()

    assert not any(thread.name == "line-batches" for thread in threading.enumerate())
    assert len(produced) <= 4  # the one consumed, at most `depth` queued and one waiting to be


def test_read_ahead_raises_the_producers_error_in_the_consumer() -> None:
    def failing():
        yield 1
        raise EOFError("truncated")

    batches = line_reader._read_ahead(failing())
    assert next(batches) == 1
    with pytest.raises(EOFError, match="truncated"):
        next(batches)


LONG_CONTENT = b"short\n" + b"x" * 25 + b"\nok\n" + b"y" * 12 + b"\xc3\xa9" + b"z" * 20
LONG_EXPECTED = [
    {"line_no": 1, "line": "short", "undecodable": False, "too_long": False},
    {"line_no": 2, "line": "x" * 25, "undecodable": False, "too_long": True},
    {"line_no": 3, "line": "ok", "undecodable": False, "too_long": False},
    {"line_no": 4, "line": "y" * 12 + "é" + "z" * 20, "undecodable": False, "too_long": True},
]


@pytest.mark.parametrize("block_bytes", [3, 10, 1 << 20])
def test_a_line_longer_than_the_limit_is_flagged_and_numbered_like_any_other(block_bytes: int) -> None:
    """Inside one block or spread over many: the same rows (heads are whole here: shorter than 8 KiB)."""
    batches = text_line_batches(io.BytesIO(LONG_CONTENT), "utf-8", block_bytes, max_line_bytes=20)
    assert [row for batch in batches for row in batch.to_pylist()] == LONG_EXPECTED


def test_an_over_long_line_keeps_only_its_head(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line_reader, "_HEAD_BYTES", 13)  # cuts the two-byte é in half
    batches = text_line_batches(io.BytesIO(LONG_CONTENT), "utf-8", 4, max_line_bytes=20)
    heads = [row["line"] for batch in batches for row in batch.to_pylist() if row["too_long"]]
    assert heads == ["x" * 13, "y" * 12 + "\ufffd"]


class _RepeatedBytes(io.RawIOBase):
    """`size` bytes of `fill` without holding them: a stream as long as a bomb inflates to."""

    def __init__(self, fill: bytes, size: int):
        self.fill, self.left = fill, size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return self.fill * n


def test_one_huge_line_costs_one_block_of_memory_not_the_line() -> None:
    """64 MiB without a newline, read in 1 MiB blocks: the line is never assembled (old code held it whole,
    and joined it block by block, quadratic in its length)."""
    tracemalloc.start()
    try:
        batches = list(text_line_batches(_RepeatedBytes(b"a", 64 << 20), "utf-8", 1 << 20, max_line_bytes=1 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [batch.to_pylist() for batch in batches] == [
        [{"line_no": 1, "line": "a" * 8192, "undecodable": False, "too_long": True}]
    ]
    assert peak < 8 << 20


def test_a_block_of_short_lines_comes_in_slices_so_the_budget_is_checked_often() -> None:
    batches = list(text_line_batches(_RepeatedBytes(b"\n", 3 << 17), "utf-8", 16 << 20))
    assert [batch.num_rows for batch in batches] == [1 << 17] * 3
    assert [batch.column("line_no")[0].as_py() for batch in batches] == [1, (1 << 17) + 1, (2 << 17) + 1]
