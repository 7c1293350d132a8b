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
    # int64 [N]: seconds since the user's previous interaction in any split, -1 for a first one (None: no times)
    since_previous: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.user.numel())


@dataclass(frozen=True)
class UserTimeline:
    """Every interaction (train, val and test) grouped by user, oldest first.

    What evaluation masks: the items a row's user had strictly before that row. `key` is
    user * stride + event_order, globally sorted, so "how many of the user's interactions precede
    event e" is one searchsorted for a whole batch of rows.
    """

    ptr: torch.Tensor  # int64 [n_users + 1]
    item: torch.Tensor  # int64 [nnz] item_idx, each user's in event order
    event_order: torch.Tensor  # int64 [nnz]
    key: torch.Tensor  # int64 [nnz]: user * stride + event_order, increasing
    stride: int  # > every event_order
    n_items: int

    @property
    def n_users(self) -> int:
        return int(self.ptr.numel() - 1)

    def count_before(self, user: torch.Tensor, event_order: torch.Tensor) -> torch.Tensor:
        """[B] how many interactions each user had strictly before the given event_order."""
        query = user * self.stride + event_order.clamp(max=self.stride)  # stride: all of the user's
        return torch.searchsorted(self.key, query) - self.ptr[user]

    def pairs_before(self, user: torch.Tensor, event_order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row, item) for every item row r's user had strictly before event_order[r] (repeats kept)."""
        length = self.count_before(user, event_order)
        row = torch.repeat_interleave(torch.arange(user.numel(), device=user.device), length)
        within = torch.arange(row.numel(), device=user.device) - (torch.cumsum(length, 0) - length)[row]
        return row, self.item[self.ptr[user][row] + within]

    def truncated(self, event_order: int) -> UserTimeline:
        """The same timeline without the interactions at or after event_order (e.g. train only)."""
        keep = self.event_order < event_order
        owner = torch.repeat_interleave(torch.arange(self.n_users, device=self.ptr.device), self.ptr.diff())
        ptr = torch.zeros_like(self.ptr)
        ptr[1:] = torch.cumsum(torch.bincount(owner[keep], minlength=self.n_users), 0)
        return UserTimeline(ptr, self.item[keep], self.event_order[keep], self.key[keep], self.stride, self.n_items)

    def items_before(self, event_order: int) -> SparseRows:
        """Each user's items strictly before event_order (repeats kept), e.g. train + val before the test period."""
        truncated = self.truncated(event_order)
        return SparseRows(truncated.ptr, truncated.item, None, self.n_items)


@dataclass(frozen=True)
class TrainingBundle:
    n_users: int
    n_items: int
    train: InteractionSet
    val: InteractionSet  # every val row, users without a training interaction included
    test: InteractionSet  # every test row, users without a training interaction included
    tfidf: SparseRows  # item_idx -> (term_idx, weight); n_cols = vocabulary size
    train_items_by_user: SparseRows  # user_idx -> item_idx seen in train (training negatives)
    timeline: UserTimeline  # every interaction per user: what evaluation masks before a row
    user_train_count: torch.Tensor  # int64 [n_users]: training-history length (segments; 0 = cold user)
    item_train_count: torch.Tensor  # int64 [n_items]: training popularity (0 = cold item)


@dataclass(frozen=True)
class EvaluationRows:
    """A bundle's val then test rows (same policy, same order) and its users' training items, without features.

    Drawing evaluation negatives needs only these, so it need not load a whole `TrainingBundle`.
    """

    n_items: int
    event_order: torch.Tensor  # int64 [N]
    user: torch.Tensor  # int64 [N] user_idx
    item: torch.Tensor  # int64 [N] item_idx: the positive
    train_items_by_user: SparseRows  # as TrainingBundle.train_items_by_user (the `train_only` mask)
    items_by_user: SparseRows  # every item each user ever had, in any split (the default mask)
