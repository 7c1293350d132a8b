"""Vectorised gathering of model batches from the CSR tensors of a `TrainingBundle`."""

from __future__ import annotations

import torch

from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.bundle import InteractionSet, SparseRows


def gather_padded(rows: SparseRows, which: torch.Tensor, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The last <= max_len entries of each selected CSR row, as [B, L] (value + 1, 0 = right padding).

    L is the longest selected row (capped at max_len), so short batches stay short.
    """
    start, end = rows.ptr[which], rows.ptr[which + 1]
    lengths = (end - start).clamp(max=max_len)
    width = int(lengths.max().item()) if which.numel() else 0
    offsets = torch.arange(width, dtype=torch.int64)
    positions = (end - lengths).unsqueeze(1) + offsets
    valid = offsets < lengths.unsqueeze(1)
    values = rows.index[positions.clamp(max=max(rows.index.numel() - 1, 0))] if rows.index.numel() else positions
    padded = torch.where(valid, values + 1, torch.zeros_like(positions))
    return padded, lengths


def make_batch(split: InteractionSet, which: torch.Tensor, max_history: int) -> Batch:
    """The query side of interactions `which` (row positions in `split`)."""
    history, history_len = gather_padded(split.history, which, max_history)
    return Batch(user=split.user[which], context=split.context[which], history=history, history_len=history_len,
                 since_previous=previous_gaps(split, which))


def previous_gaps(split: InteractionSet, which: torch.Tensor) -> torch.Tensor | None:
    """Seconds from each selected row's previous interaction of its user (-1 without one), if the split has times."""
    return split.since_previous[which] if split.since_previous is not None else None
