"""Checkpoint files that a kill can never leave half-written."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, BinaryIO, Literal

import torch

from hybridrec_ml.atomic import atomic_file

log = logging.getLogger(__name__)

# auto: resume a checkpoint of this very run, start fresh (with a warning) over one of another
# variant or dataset; never: always start fresh; require: resume or fail.
ResumePolicy = Literal["auto", "never", "require"]
RESUME_POLICIES: tuple[ResumePolicy, ...] = ("auto", "never", "require")


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then os.replace over `path` (atomic)."""
    with atomic_file(path) as handle:
        torch.save(state, handle)


def resumable_state(path: Path | None, fingerprint: str, policy: ResumePolicy = "auto") -> dict[str, Any] | None:
    """The checkpoint state at `path` to resume from, or None to start fresh, by `policy`.

    A checkpoint left by a killed run whose config or data has changed since cannot be resumed; under
    `auto` the rerun starts fresh (and overwrites it at its first epoch) instead of blocking the
    partition until someone deletes the folder by hand.
    """
    if policy not in RESUME_POLICIES:
        raise ValueError(f"unknown resume policy {policy!r}; valid: {', '.join(RESUME_POLICIES)}")
    if path is None or policy == "never" or not path.exists():
        if policy == "require":
            raise ValueError(f"resume=require but there is no checkpoint to resume at {path}")
        return None
    state = load_checkpoint(path)
    if state["fingerprint"] == fingerprint:
        return state
    if policy == "require":
        raise ValueError(f"{path} belongs to another variant or dataset; resume=require cannot resume it")
    log.warning("%s belongs to another variant or dataset (changed since the run was killed): starting fresh", path)
    return None


def load_checkpoint(path: Path | BinaryIO) -> dict[str, Any]:
    """Tensors land on the CPU; only tensors and plain containers/scalars are accepted (weights_only)."""
    return torch.load(path, map_location="cpu", weights_only=True)
