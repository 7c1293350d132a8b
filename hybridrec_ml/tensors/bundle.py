"""Compact tensors built once from the DuckDB tables: what training and evaluation consume.

Everything is CSR-style (pointer + flat values) so no dense users x items or items x vocab matrix
ever exists, and a batch is gathered with vectorised indexing rather than per-row Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SparseRows:
    """Row i holds index[ptr[i]:ptr[i+1]] with optional weight[ptr[i]:ptr[i+1]] (CSR)."""

    ptr: torch.Tensor  # int64 [n_rows + 1]
    index: torch.Tensor  # int64 [nnz]
    weight: torch.Tensor | None  # float32 [nnz] or None
    n_cols: int

    @property
    def n_rows(self) -> int:
        return int(self.ptr.numel() - 1)


@dataclass(frozen=True)
class InteractionSet:
    """The interactions of one split, ordered by event_order."""

    event_order: torch.Tensor  # int64 [N]
    user: torch.Tensor  # int64 [N] user_idx
    item: torch.Tensor  # int64 [N] item_idx
    context: torch.Tensor  # float32 [N, 5] in schema.CONTEXT_FEATURE_NAMES order
    history: SparseRows  # row r: the <= max_history previous item_idx of that user, oldest first

    def __len__(self) -> int:
        return int(self.user.numel())


@dataclass(frozen=True)
class TrainingBundle:
    n_users: int
    n_items: int
    train: InteractionSet
    val: InteractionSet  # only rows whose user appears in train
    test: InteractionSet  # only rows whose user appears in train
    tfidf: SparseRows  # item_idx -> (term_idx, weight); n_cols = vocabulary size
    train_items_by_user: SparseRows  # user_idx -> item_idx seen in train (for masking / negatives)
    user_train_count: torch.Tensor  # int64 [n_users]: training-history length (segments)
    item_train_count: torch.Tensor  # int64 [n_items]: training popularity


@dataclass(frozen=True)
class EvaluationRows:
    """A bundle's val then test rows (same policy, same order) and its users' training items, without features.

    Drawing evaluation negatives needs only these, so it need not load a whole `TrainingBundle`.
    """

    n_items: int
    event_order: torch.Tensor  # int64 [N]
    user: torch.Tensor  # int64 [N] user_idx
    item: torch.Tensor  # int64 [N] item_idx: the positive
    train_items_by_user: SparseRows  # as TrainingBundle.train_items_by_user
