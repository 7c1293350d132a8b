"""Checkpoint files that a kill can never leave half-written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from hybridrec_ml.atomic import atomic_file


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then os.replace over `path` (atomic)."""
    with atomic_file(path) as handle:
        torch.save(state, handle)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Tensors land on the CPU; only tensors and plain containers/scalars are accepted (weights_only)."""
    return torch.load(path, map_location="cpu", weights_only=True)
