"""What every user consumed and when: the history and the items to exclude at any moment.

Training rows carry the history before each interaction; a recommendation is made at an arbitrary
time `at`, so it needs each user's items up to then: the user's interactions with ts <= at, in
event order (all splits, users without a training interaction included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np
import torch

from hybridrec_ml.data.transforms.context import ContextTables
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.batching import gather_padded
from hybridrec_ml.tensors.bundle import SparseRows
from hybridrec_ml.tensors.bundle_loader import csr_from_pairs

_LOG_SQL = f"SELECT user_idx, item_idx, ts FROM {schema.INTERACTIONS_5CORE} ORDER BY user_idx, event_order"
_USERS_SQL = f"SELECT user_id FROM {schema.USER_INDEX} ORDER BY user_idx"
_ITEMS_SQL = f"SELECT item_id FROM {schema.ITEM_INDEX} ORDER BY item_idx"


@dataclass(frozen=True)
class ConsumptionLog:
    """Every user's interactions, oldest first (CSR over user_idx), with their unix-second times."""

    items: SparseRows  # user_idx -> item_idx in event order (5-core: each (user, item) once)
    ts: torch.Tensor  # int64 [nnz], aligned with items.index, non-decreasing within a user

    @property
    def end_ts(self) -> int:
        """The last interaction's time: the default moment of a batch of recommendations."""
        return int(self.ts.max()) if self.ts.numel() else 0

    def _kept_before(self, at: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(ts <= at per interaction, [nnz + 1] how many of those precede each position): a user's times are
        non-decreasing, so the kept ones of a user are a prefix of its segment."""
        keep = self.ts <= at
        kept_before = torch.zeros(keep.numel() + 1, dtype=torch.int64)
        kept_before[1:] = torch.cumsum(keep, 0)
        return keep, kept_before

    def until(self, at: int) -> SparseRows:
        """Each user's items with ts <= at: the histories and consumed items of every user at `at`."""
        keep, kept_before = self._kept_before(at)
        return SparseRows(kept_before[self.items.ptr], self.items.index[keep], None, self.items.n_cols)

    def since_last(self, users: torch.Tensor, at: int) -> torch.Tensor:
        """[B] seconds from each user's last interaction with ts <= at to `at`, -1 without one (Batch.since_previous).

        One pass over the whole log, for batches of many users; one user: `user_since_last`."""
        start, end = self.items.ptr[users], self.items.ptr[users + 1]
        _, kept_before = self._kept_before(at)
        count = kept_before[end] - kept_before[start]
        last = self.ts[(start + count - 1).clamp(min=0, max=max(self.ts.numel() - 1, 0))] if self.ts.numel() else count
        return torch.where(count > 0, at - last, -1)

    def _user_count_until(self, user: int, at: int) -> tuple[int, int]:
        """(segment start, how many of the user's interactions have ts <= at): a binary search in its segment."""
        start, end = int(self.items.ptr[user]), int(self.items.ptr[user + 1])
        return start, int(torch.searchsorted(self.ts[start:end], at, right=True))

    def user_until(self, user: int, at: int) -> torch.Tensor:
        """One user's items with ts <= at, oldest first."""
        start, count = self._user_count_until(user, at)
        return self.items.index[start : start + count]

    def user_since_last(self, user: int, at: int) -> int:
        """`since_last` of one user, without the pass over the log (a request's hot path)."""
        start, count = self._user_count_until(user, at)
        return at - int(self.ts[start + count - 1]) if count else -1


def load_consumption_log(con: duckdb.DuckDBPyConnection, n_users: int, n_items: int) -> ConsumptionLog:
    """The log of `interactions_5core` (read-only access suffices)."""
    table = con.execute(_LOG_SQL).fetchnumpy()
    user, item, ts = (torch.from_numpy(table[name].astype(np.int64)) for name in ("user_idx", "item_idx", "ts"))
    return ConsumptionLog(items=csr_from_pairs(user, item, None, n_users, n_items), ts=ts)


def load_ids(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    """The string ids of users and items, indexed by user_idx and item_idx."""
    return [row[0] for row in con.execute(_USERS_SQL).fetchall()], [row[0] for row in con.execute(_ITEMS_SQL).fetchall()]


def query_batch(
    consumed: SparseRows, users: torch.Tensor, context: torch.Tensor, max_history: int, since_previous: torch.Tensor
) -> Batch:
    """The query side of `users` at one moment: their last <= max_history items of `consumed`, that
    moment's context [context_dim] and the seconds since each one's last interaction (`since_last`),
    the same gather the training and evaluation batches use."""
    history, history_len = gather_padded(consumed, users, max_history)
    return Batch(user=users, context=context.expand(users.numel(), -1), history=history, history_len=history_len,
                 since_previous=since_previous)


def context_at(tables: ContextTables, at: int) -> torch.Tensor:
    """float32 [context_dim]: the context features of unix second `at`."""
    return torch.from_numpy(tables.features(np.array([at]))[0])


def parse_time(text: str) -> int:
    """Unix seconds of an ISO 8601 time (UTC when it has no offset); ValueError quoting the input otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text!r} (e.g. 2018-09-30T18:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


def user_indices(user_ids: list[str], wanted: list[str] | None) -> torch.Tensor:
    """user_idx of the wanted ids (all users when None), ascending; ValueError naming unknown ids."""
    if wanted is None:
        return torch.arange(len(user_ids))
    index = {user_id: idx for idx, user_id in enumerate(user_ids)}
    unknown = [user_id for user_id in wanted if user_id not in index]
    if unknown:
        raise ValueError(f"unknown user ids ({len(unknown)}): {', '.join(map(repr, unknown[:10]))}")
    return torch.tensor(sorted({index[user_id] for user_id in wanted}), dtype=torch.int64)
