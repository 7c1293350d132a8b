"""A host-wide exclusive lock named by a string: for steps of parallel processes that their store does not serialise."""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def lock_file(name: str) -> Path:
    """The lock file of `name` (e.g. a storage URL), in the temp folder so that any process on the host finds it."""
    return Path(tempfile.gettempdir()) / f"hybridrec-{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock"


@contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Hold the lock of `name` for the block; flock is released by the kernel if the holder dies."""
    with open(lock_file(name), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
