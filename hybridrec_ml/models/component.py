"""The contract every part of the hybrid meets, so `HybridRecommender` can fuse any subset of them.

A component splits its work by what it depends on: the row side once per batch row (user
embedding, GRU state over the history), the item side once per distinct item (or once for the
whole catalogue in eval mode), and a cheap combine over [B, C] that yields the component's
representation h, which the hybrid's linear head scores.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from hybridrec_ml.tensors.batch import Batch


@runtime_checkable
class Component(Protocol):
    out_dim: int  # features of h; the hybrid's head takes ModelDims.embedding_dim

    def row_side(self, batch: Batch) -> torch.Tensor:
        """[B, ...]: what depends only on each row's query side."""
        ...

    def item_side(self, items: torch.Tensor) -> torch.Tensor:
        """[N] item_idx -> [N, ...]: what depends only on the item."""
        ...

    def combine(self, row: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """row side [B, ...] and item side [B, C, ...] -> h [B, C, out_dim]."""
        ...
