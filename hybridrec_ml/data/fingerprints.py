"""Source-file fingerprints: what a watcher compares between looks to notice new or changed data.

Size and mtime are cheap but say nothing about content (a copy or `touch` moves the mtime of an
identical file), so a file is hashed only when its size or mtime moved, and "changed" means its
sha256 changed. An unchanged multi-GB reviews file therefore costs one `stat` per look.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fingerprint:
    size: int
    mtime_ns: int
    sha256: str


def fingerprint_files(paths: Iterable[Path], previous: Mapping[str, Fingerprint]) -> dict[str, Fingerprint]:
    """Path -> fingerprint, reusing `previous` hashes of files whose size and mtime did not move."""
    current: dict[str, Fingerprint] = {}
    for path in paths:
        stat = Path(path).stat()
        known = previous.get(str(path))
        if known is not None and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            current[str(path)] = known
            continue
        with open(path, "rb") as stream:
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
        current[str(path)] = Fingerprint(stat.st_size, stat.st_mtime_ns, digest)
    return current


def changed_files(previous: Mapping[str, Fingerprint], current: Mapping[str, Fingerprint]) -> list[str]:
    """Paths that are new in `current` or whose content differs from `previous`, sorted."""
    return sorted(
        path for path, print_ in current.items() if path not in previous or previous[path].sha256 != print_.sha256
    )


def content_key(current: Mapping[str, Fingerprint]) -> str:
    """One short hash of every file's name and content: equal keys mean the same input data."""
    lines = "".join(f"{Path(path).name}\t{print_.sha256}\n" for path, print_ in sorted(current.items()))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def dumps(fingerprints: Mapping[str, Fingerprint]) -> str:
    return json.dumps({path: astuple(print_) for path, print_ in sorted(fingerprints.items())})


def loads(text: str | None) -> dict[str, Fingerprint]:
    """The inverse of `dumps`; None or "" (no earlier look) is an empty mapping."""
    return {path: Fingerprint(*fields) for path, fields in json.loads(text).items()} if text else {}
