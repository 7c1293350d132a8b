"""The line splitter every reader shares: numbering, block boundaries, decoding, the read-ahead thread."""

from __future__ import annotations

import gzip
import io
import threading
from pathlib import Path

import pytest

from hybridrec_ml.data.sources import line_reader
from hybridrec_ml.data.sources.line_reader import text_line_batches

CONTENT = "café au lait\n\nzweite Zeile\r\n".encode() + b"bad \xe9 byte\nlast, unterminated"
EXPECTED = [
    {"line_no": 1, "line": "café au lait", "undecodable": False},
    {"line_no": 2, "line": "", "undecodable": False},
    {"line_no": 3, "line": "zweite Zeile\r", "undecodable": False},
    {"line_no": 4, "line": "bad \ufffd byte", "undecodable": True},
    {"line_no": 5, "line": "last, unterminated", "undecodable": False},
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
        {"line_no": 1, "line": "Café", "undecodable": False},
        {"line_no": 2, "line": "René", "undecodable": False},
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
