"""Files that a kill can never leave half-written: write a temp file beside the target, fsync, rename.

The temp file sits in the target's folder, so `os.replace` stays on one filesystem and is atomic:
a reader sees the old file or the new one, never a part. A failed write removes its temp file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def temp_file_beside(path: Path, mode: int | None = None) -> Iterator[tuple[BinaryIO, Path]]:
    """A new temp file next to `path`, open for binary writing; fsynced on exit, removed if the block raises.

    For writers that rename several files together; `mode` replaces mkstemp's private 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            yield handle, temp
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(path: Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """Binary handle whose content replaces `path` in one step when the block ends without error."""
    with temp_file_beside(path, mode) as (handle, temp):
        yield handle
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> Path:
    with atomic_file(path, mode) as handle:
        handle.write(data)
    return path


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> Path:
    """UTF-8 text, written atomically; returns `path`."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode)
