"""Checkpoint files that a kill can never leave half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import torch


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then os.replace over `path` (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path | BinaryIO) -> dict[str, Any]:
    """Tensors land on the CPU; only tensors and plain containers/scalars are accepted (weights_only)."""
    return torch.load(path, map_location="cpu", weights_only=True)
