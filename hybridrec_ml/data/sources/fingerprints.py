"""Source-file fingerprints: what a watcher compares between looks to notice new or changed data.

Size and mtime are cheap but say nothing about content (a copy or `touch` moves the mtime of an
identical file), so "changed" means the sha256 changed. A file is hashed only once its size and
mtime have held still since the previous look and its mtime is not within `SETTLE_NS` of now:
a file still being copied is not hashed (or ingested) half-written, and a rewrite inside one
timestamp tick of a look cannot hide behind an unchanged (size, mtime) pair. An unchanged
multi-GB reviews file costs one `stat` per look.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass
from pathlib import Path

SETTLE_NS = 2_000_000_000  # a file modified this recently may still be written to


@dataclass(frozen=True)
class Fingerprint:
    size: int
    mtime_ns: int
    sha256: str | None  # None: the file moved at this look; hashed once it holds still


def fingerprint_files(
    paths: Iterable[Path], previous: Mapping[str, Fingerprint], now_ns: int | None = None
) -> dict[str, Fingerprint]:
    """Path -> fingerprint; a hash is reused while (size, mtime) stay put, computed once a file settles."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    current: dict[str, Fingerprint] = {}
    for path in paths:
        stat = Path(path).stat()
        known = previous.get(str(path))
        held_still = known is not None and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        if not held_still or now_ns - stat.st_mtime_ns < SETTLE_NS:
            current[str(path)] = Fingerprint(stat.st_size, stat.st_mtime_ns, None)
        elif known.sha256 is not None:
            current[str(path)] = known
        else:
            current[str(path)] = Fingerprint(stat.st_size, stat.st_mtime_ns, _sha256(path))
    return current


def unsettled(current: Mapping[str, Fingerprint]) -> list[str]:
    """Paths not hashed yet because they moved since the previous look, sorted."""
    return sorted(path for path, print_ in current.items() if print_.sha256 is None)


def content_key(current: Mapping[str, Fingerprint]) -> str:
    """One short hash of every file's name and content: equal keys mean the same input data."""
    moving = unsettled(current)
    if moving:
        raise ValueError(f"files not settled yet: {', '.join(moving)}")
    lines = "".join(f"{Path(path).name}\t{print_.sha256}\n" for path, print_ in sorted(current.items()))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def hash_files(paths: Iterable[Path]) -> dict[str, Fingerprint]:
    """Fingerprints of files known to be complete (e.g. just read by an ingest): hashed now, no settling."""
    prints = {}
    for path in map(Path, paths):
        stat = path.stat()
        prints[str(path)] = Fingerprint(stat.st_size, stat.st_mtime_ns, _sha256(path))
    return prints


def _sha256(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def dumps(fingerprints: Mapping[str, Fingerprint]) -> str:
    return json.dumps({path: astuple(print_) for path, print_ in sorted(fingerprints.items())})


def loads(text: str | None) -> dict[str, Fingerprint]:
    """The inverse of `dumps`; None or "" (no earlier look) is an empty mapping."""
    return {path: Fingerprint(*fields) for path, fields in json.loads(text).items()} if text else {}
