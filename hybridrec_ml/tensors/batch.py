"""The query side of B interactions, as the trainer and evaluator hand it to every model."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SequenceChunks:
    """GRU inputs of S user-sequence chunks and where each of B rows finds the state before it.

    The state of row b is output `state_at[b]` of the flattened [S * T] GRU outputs (after item
    t of chunk s is `s * T + t`), or the zero state when `state_at[b]` is -1 (empty history).
    """

    items: torch.Tensor  # int64 [S, T]: item_idx + 1, oldest first, 0 = padding on the right
    lengths: torch.Tensor  # int64 [S]: real entries of each chunk (may be 0)
    state_at: torch.Tensor  # int64 [B]

    def to(self, device: torch.device | str) -> SequenceChunks:
        return SequenceChunks(*(t.to(device, non_blocking=True) for t in (self.items, self.lengths, self.state_at)))


@dataclass(frozen=True)
class Batch:
    """User, context and history of B rows; candidates to score are passed beside it.

    The history comes either as a per-row window (`history`, `history_len`) or, on the sequence
    path, as chunk passes (`sequence`, with an empty [B, 0] window).
    """

    user: torch.Tensor  # int64 [B]
    context: torch.Tensor  # float32 [B, context_dim]
    history: torch.Tensor  # int64 [B, L]: previous item_idx + 1, oldest first, 0 = padding on the right
    history_len: torch.Tensor  # int64 [B]: number of real entries in each history row
    sequence: SequenceChunks | None = None
    # int64 [B]: seconds since the user's previous interaction, -1 without one (None: the caller has no times)
    since_previous: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        tensors = (t.to(device, non_blocking=True) for t in (self.user, self.context, self.history, self.history_len))
        since_previous = self.since_previous.to(device, non_blocking=True) if self.since_previous is not None else None
        return Batch(*tensors, self.sequence.to(device) if self.sequence is not None else None, since_previous)
