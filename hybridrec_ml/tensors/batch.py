"""The query side of B interactions, as the trainer and evaluator hand it to every model."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Batch:
    """User, context and history of B rows; candidates to score are passed beside it."""

    user: torch.Tensor  # int64 [B]
    context: torch.Tensor  # float32 [B, context_dim]
    history: torch.Tensor  # int64 [B, L]: previous item_idx + 1, oldest first, 0 = padding on the right
    history_len: torch.Tensor  # int64 [B]: number of real entries in each history row

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in (self.user, self.context, self.history, self.history_len)))
