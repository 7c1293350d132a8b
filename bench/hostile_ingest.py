"""Hostile-file benchmark: the three ingest bombs of issue 16, full size, each in its own subprocess.

    python bench/hostile_ingest.py [--work-dir /tmp/hostile] [--bomb NAME ...]

Bombs (built on the fly, streamed, never held inflated): a 4 MB 2014-style dict-literal line; a
~2 MB gzip inflating to one 2 GiB line; a ~256 KB gzip of 256 Mi empty lines. Each is ingested by
`ingest_amazon2018` with default `LineLimits` in a fresh subprocess; printed: the outcome, the
subprocess's wall seconds (imports included) and the ingest call's own, peak RSS (wait4), and, as the
reference measured in the same run, the seconds that merely inflating the same file with ISA-L takes. Targets: each ends in seconds with peak RSS under 1 GB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_META = json.dumps({"asin": "I1", "title": "x"}) + "\n"
_VALID = json.dumps({"overall": 5.0, "reviewerID": "U1", "asin": "I1", "unixReviewTime": 1491436800}) + "\n"


def _stream_gzip(path: Path, pieces) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as out:
        for piece in pieces:
            out.write(packer.compress(piece))
        out.write(packer.flush())


def _literal_line(size: int) -> bytes:
    head = "{'reviewerID': 'U2', 'asin': 'I1', 'overall': 4.0, 'unixReviewTime': 1491436800, 'helpful': ["
    return (head + "1, " * ((size - len(head)) // 3) + "1]}\n").encode()


def _pieces(head: bytes, block: bytes, count: int, tail: bytes = b""):
    """`head`, `count` times `block`, `tail`: one block in memory, so the builder's RSS stays small (a
    forked child inherits its parent's peak RSS, which would pollute the child's figure)."""
    yield head
    for _ in range(count):
        yield block
    yield tail


BOMBS = {
    "dict_literal_4mb": lambda: _pieces(_VALID.encode(), _literal_line(4_000_000), 1),
    "one_line_2gib": lambda: _pieces(_VALID.encode(), b"x" * (16 << 20), 128, b"\n"),
    "empty_lines_256mi": lambda: _pieces(_VALID.encode(), b"\n" * (16 << 20), 16),
}


def _child(reviews: str, meta: str) -> None:
    import duckdb

    from hybridrec_ml.data.sources.amazon2018 import ingest_amazon2018
    from hybridrec_ml.data.sources.line_reader import SourceFileError

    con = duckdb.connect()
    started = time.perf_counter()
    try:
        report = ingest_amazon2018(con, Path(reviews), Path(meta))
        outcome = f"accepted: {report.reviews} reviews, quarantined {report.review_quarantine}"
    except SourceFileError as error:
        outcome = f"SourceFileError: {str(error).split(': ', 1)[1][:160]}"
    print(f"{time.perf_counter() - started:.2f} {outcome}")


def _inflate_seconds(path: Path) -> float:
    from isal import igzip

    started = time.perf_counter()
    with igzip.open(path, "rb") as stream:
        while stream.read(16 << 20):
            pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/hybridrec-hostile"))
    parser.add_argument("--bomb", nargs="*", choices=sorted(BOMBS), default=list(BOMBS))
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    meta = args.work_dir / "meta_Electronics.json.gz"
    meta.write_bytes(gzip.compress(_META.encode()))
    header = f"{'bomb':<18} {'gzip MB':>8} {'process s':>9} {'ingest s':>9} {'peak RSS MB':>11} {'inflate s':>9} {'ratio':>6}"
    print(header + "  outcome")
    for name in args.bomb:
        reviews = args.work_dir / f"{name}.json.gz"
        if not reviews.exists():  # written under a temporary name: an interrupted build is not reused
            partial = reviews.with_suffix(".partial")
            _stream_gzip(partial, BOMBS[name]())
            partial.rename(reviews)
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, __file__, "--child", str(reviews), str(meta)], stdout=subprocess.PIPE, text=True
        )
        output = child.stdout.read().strip()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        reference = _inflate_seconds(reviews)
        ingest, _, outcome = output.partition(" ") if status == 0 else ("nan", "", f"exit status {status}")
        print(
            f"{name:<18} {reviews.stat().st_size / 1e6:>8.2f} {seconds:>9.1f} {float(ingest):>9.2f} "
            f"{usage.ru_maxrss / 1024:>11.0f} {reference:>9.2f} {float(ingest) / reference:>6.1f}  {outcome}"
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        main()
