"""User sequences in chunks: one GRU pass over a chunk yields the state before each of its rows.

Every row of a bundle (train, val, test) sits at a flat position of the users' chronological
sequences (rows sorted by user, then event_order). Each user's sequence is cut into aligned chunks
of `chunk_len` rows; the GRU input of a chunk is the `prefix` items before the chunk's first row
(fewer at the start of the sequence) followed by the chunk's own items, so the row at offset i in
its chunk sees the last prefix + i items of its user (all of them when the user has fewer).
With prefix = max_history - chunk_len + 1 a row sees between `prefix` and `max_history` previous
items (fewer only when its user has fewer), and when chunk_len divides max_history every row with
fewer than `max_history` earlier items sees exactly its per-row window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hybridrec_ml.config import VariantConfig
from hybridrec_ml.tensors.batch import Batch, SequenceChunks
from hybridrec_ml.tensors.batching import make_batch, previous_gaps
from hybridrec_ml.tensors.bundle import InteractionSet, TrainingBundle
from hybridrec_ml.tensors.bundle_loader import first_in_runs


@dataclass(frozen=True)
class SequenceLayout:
    """Flat, chunk-aligned sequences of all rows; `position[split]` maps a split's rows into them."""

    item: torch.Tensor  # int64 [M] item_idx, sorted by (user, event_order)
    window_start: torch.Tensor  # int64 [M]: flat position of the first item a row sees
    chunk_start: torch.Tensor  # int64 [M]: flat position of the first row of the row's chunk
    position: dict[str, torch.Tensor]  # split name -> int64 [N]: flat position of each row
    chunk_len: int

    @classmethod
    def build(cls, bundle: TrainingBundle, max_history: int, chunk_len: int) -> SequenceLayout:
        if not 1 <= chunk_len <= max_history:
            raise ValueError(f"chunk_len must be in [1, max_history={max_history}], got {chunk_len}")
        prefix = max_history - chunk_len + 1
        splits = {"train": bundle.train, "val": bundle.val, "test": bundle.test}
        user = torch.cat([s.user for s in splits.values()]).numpy()
        event = torch.cat([s.event_order for s in splits.values()]).numpy()
        order = np.lexsort((event, user))  # flat position -> row of the concatenation
        sorted_user = user[order]
        first = first_in_runs(sorted_user)
        user_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        offset = np.arange(len(order)) - user_start
        chunk_start = user_start + (offset // chunk_len) * chunk_len
        window_start = np.maximum(user_start, chunk_start - prefix)
        flat_of_row = np.empty(len(order), dtype=np.int64)
        flat_of_row[order] = np.arange(len(order))
        bounds = np.cumsum([0, *(len(s) for s in splits.values())])
        position = {name: torch.from_numpy(flat_of_row[lo:hi]) for name, lo, hi in zip(splits, bounds, bounds[1:])}
        item = torch.cat([s.item for s in splits.values()])[torch.from_numpy(order)]
        return cls(item, torch.from_numpy(window_start), torch.from_numpy(chunk_start), position, chunk_len)

    def chunks_of(self, flat: torch.Tensor) -> SequenceChunks:
        """One GRU input per chunk touched by the rows at `flat` (up to the last of them), and where each row's state is."""
        chunk, row_chunk = torch.unique(self.chunk_start[flat], return_inverse=True)
        window = self.window_start[chunk]
        last = torch.full_like(chunk, -1).scatter_reduce(0, row_chunk, flat, "amax")
        lengths = last - window  # the items before the chunk's last requested row
        width = int(lengths.max()) if chunk.numel() else 0
        offsets = torch.arange(width)
        take = (window.unsqueeze(1) + offsets).clamp(max=max(self.item.numel() - 1, 0))
        items = torch.where(offsets < lengths.unsqueeze(1), self.item[take] + 1, 0)
        step = flat - window[row_chunk] - 1  # output index of the state before the row; -1 = empty history
        state_at = torch.where(step >= 0, row_chunk * width + step, -1)
        return SequenceChunks(items, lengths, state_at)

    def train_chunks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training rows grouped by chunk: (train row ids in flat order, rows per chunk)."""
        flat = self.position["train"]
        order = torch.argsort(flat)
        _, counts = torch.unique_consecutive(self.chunk_start[flat[order]], return_counts=True)
        return order, counts


def sequence_batch(layout: SequenceLayout, split_name: str, split: InteractionSet, rows: torch.Tensor) -> Batch:
    """The query side of `rows` of a split with the dynamic history given as chunk passes (no per-row window)."""
    flat = layout.position[split_name][rows]
    empty = torch.zeros(rows.numel(), 0, dtype=torch.int64)
    return Batch(split.user[rows], split.context[rows], empty, torch.zeros(rows.numel(), dtype=torch.int64),
                 layout.chunks_of(flat), previous_gaps(split, rows))


def batch_maker(variant: VariantConfig, bundle: TrainingBundle, split_name: str) -> Callable[[torch.Tensor], Batch]:
    """rows of `bundle.<split_name>` -> their query side, on the variant's history path (`uses_sequence_chunks`)."""
    split: InteractionSet = getattr(bundle, split_name)
    if not variant.uses_sequence_chunks:
        return lambda rows: make_batch(split, rows, variant.dims.max_history)
    layout = SequenceLayout.build(bundle, variant.dims.max_history, variant.train.sequence_chunk)
    return lambda rows: sequence_batch(layout, split_name, split, rows)
