"""Sampled-evaluation negatives: drawn once per seed, stored in DuckDB, reused by every variant.

Every variant must be ranked against the same 99 negatives per val/test interaction, otherwise
differences between variants mix model quality with sampling noise; hence draw once, store, load.
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import torch

from hybridrec_ml.data import schema
from hybridrec_ml.data.bundle import SparseRows, TrainingBundle
from hybridrec_ml.data.warehouse import replace_table

# Name under which the negatives frame is visible to DuckDB while the table is rewritten.
_FRAME = "eval_negatives_frame"


def train_pair_keys(train_items_by_user: SparseRows, n_items: int) -> torch.Tensor:
    """Sorted unique keys user_idx * n_items + item_idx of every training (user, item) pair."""
    ptr = train_items_by_user.ptr
    owners = torch.repeat_interleave(torch.arange(ptr.numel() - 1, device=ptr.device), ptr.diff())
    return torch.unique(owners * n_items + train_items_by_user.index)


def is_train_pair(keys: torch.Tensor, sorted_train_keys: torch.Tensor) -> torch.Tensor:
    """Whether each key (user * n_items + item) is a training pair: one binary search per key."""
    if sorted_train_keys.numel() == 0:
        return torch.zeros_like(keys, dtype=torch.bool)
    found = torch.searchsorted(sorted_train_keys, keys).clamp(max=sorted_train_keys.numel() - 1)
    return sorted_train_keys[found] == keys


def _draw_width(n: int, n_items: int, typical_allowed: float) -> int:
    """Draws per row so a typical row has ~1.2n + 8 distinct allowed items (few rows need a refill).

    With m uniform draws the expected number of distinct allowed items is A(1 - e^(-m/n_items)).
    """
    target = 1.2 * n + 8
    cap = 8 * n + 64
    if target >= typical_allowed:
        return cap
    return min(cap, math.ceil(-n_items * math.log1p(-target / typical_allowed)))


def _first_occurrences(candidates: torch.Tensor) -> torch.Tensor:
    """True where a value appears for the first time in its row (stable sort keeps draw order)."""
    ordered, order = candidates.sort(dim=1, stable=True)
    repeat = torch.zeros_like(ordered, dtype=torch.bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    return ~torch.empty_like(repeat).scatter_(1, order, repeat)


def draw_eval_negatives(
    users: torch.Tensor,
    train_items_by_user: SparseRows,
    n_items: int,
    n: int = 99,
    *,
    positives: torch.Tensor,
    seed: int,
    chunk_rows: int = 32768,
) -> torch.Tensor:
    """n negatives per row [N, n]: uniform over items the row's user never interacted with in train.

    The row's own positive is excluded as well: a val/test positive is usually not a training
    item, and drawing it as a "negative" would tie with itself and cost the model a rank.

    Oversample uniform draws, reject training pairs (sorted-key lookup) and repeats within a row,
    keep the first n survivors: that is sequential sampling without replacement from the allowed
    items, so each row is a uniform n-subset. Rows left short (heavy users) are redrawn exactly
    from their allowed set. Deterministic for (seed, chunk_rows).
    """
    users, positives = users.to(torch.int64).cpu(), positives.to(torch.int64).cpu()
    if users.numel() == 0:
        return torch.empty((0, n), dtype=torch.int64)
    sorted_keys = train_pair_keys(train_items_by_user, n_items).cpu()
    seen_per_user = torch.bincount(sorted_keys // n_items, minlength=train_items_by_user.n_rows)
    positive_unseen = ~is_train_pair(users * n_items + positives, sorted_keys)
    allowed = n_items - seen_per_user[users] - positive_unseen.long()
    if int(allowed.min()) < n:
        raise ValueError(f"a user has only {int(allowed.min())} items outside its training items; {n} needed")
    generator = torch.Generator().manual_seed(seed)
    width = _draw_width(n, n_items, float(allowed.double().median()))
    negatives = torch.empty((users.numel(), n), dtype=torch.int64)
    short_rows: list[int] = []
    for start in range(0, users.numel(), chunk_rows):
        chunk_users = users[start : start + chunk_rows]
        candidates = torch.randint(n_items, (chunk_users.numel(), width), generator=generator)
        excluded = is_train_pair(chunk_users.unsqueeze(1) * n_items + candidates, sorted_keys)
        excluded |= candidates == positives[start : start + chunk_rows].unsqueeze(1)
        usable = ~excluded & _first_occurrences(candidates)
        complete = usable.sum(dim=1) >= n
        keep = usable & (usable.cumsum(dim=1) <= n)
        negatives[start : start + chunk_users.numel()][complete] = candidates[complete][keep[complete]].view(-1, n)
        short_rows.extend((start + torch.nonzero(~complete).flatten()).tolist())
    for row in short_rows:
        negatives[row] = _draw_exact(int(users[row]), int(positives[row]), train_items_by_user, n_items, n, generator)
    return negatives


def _draw_exact(
    user: int, positive: int, train_items_by_user: SparseRows, n_items: int, n: int, generator: torch.Generator
) -> torch.Tensor:
    """n items uniformly without replacement from the row's allowed set (the rare refill path)."""
    allowed = torch.ones(n_items, dtype=torch.bool)
    allowed[train_items_by_user.index[train_items_by_user.ptr[user] : train_items_by_user.ptr[user + 1]].cpu()] = False
    allowed[positive] = False
    items = torch.nonzero(allowed).flatten()
    return items[torch.randperm(items.numel(), generator=generator)[:n]]


def store_eval_negatives(con: duckdb.DuckDBPyConnection, event_order: torch.Tensor, negatives: torch.Tensor) -> int:
    """Replace `eval_negatives` with one row per event_order (atomic rewrite); returns rows written."""
    if event_order.numel() != negatives.shape[0]:
        raise ValueError(f"{event_order.numel()} event_order values for {negatives.shape[0]} negative rows")
    order_column, negatives_column = schema.EVAL_NEGATIVES_COLUMNS
    frame = pd.DataFrame(
        {
            order_column: event_order.cpu().numpy().astype(np.int64),
            negatives_column: list(negatives.cpu().numpy().astype(np.int32)),
        }
    )
    con.register(_FRAME, frame)
    try:
        columns = schema.column_list(schema.EVAL_NEGATIVES_COLUMNS)
        select = f"SELECT {columns} FROM {_FRAME}"
        return replace_table(con, schema.EVAL_NEGATIVES, schema.EVAL_NEGATIVES_COLUMNS, select)
    finally:
        con.unregister(_FRAME)


def load_eval_negatives(con: duckdb.DuckDBPyConnection, event_order: torch.Tensor) -> torch.Tensor:
    """Stored negatives [N, n] in the order of `event_order`; raises KeyError if any row is missing.

    Splits are contiguous ranges of event_order, so a BETWEEN filter reads only the wanted split.
    """
    if event_order.numel() == 0:
        raise ValueError("no event_order given")
    wanted = event_order.cpu().numpy().astype(np.int64)
    order_column, negatives_column = schema.EVAL_NEGATIVES_COLUMNS
    stored = con.execute(
        f"SELECT {order_column}, {negatives_column} FROM {schema.EVAL_NEGATIVES} "
        f"WHERE {order_column} BETWEEN ? AND ? ORDER BY {order_column}",
        [int(wanted.min()), int(wanted.max())],
    ).fetchnumpy()
    stored_order = np.asarray(stored[order_column], dtype=np.int64)
    position = np.searchsorted(stored_order, wanted).clip(max=max(len(stored_order) - 1, 0))
    missing = int((stored_order[position] != wanted).sum()) if len(stored_order) else len(wanted)
    if missing:
        raise KeyError(f"{missing} of {len(wanted)} event_order values have no stored negatives")
    return torch.from_numpy(np.stack(stored[negatives_column][position]).astype(np.int64))


def draw_split_negatives(bundle: TrainingBundle, n: int = 99, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(event_order, negatives) for every val and test row of `bundle`, drawn once for all variants."""
    rows = [bundle.val, bundle.test]
    users, positives = torch.cat([s.user for s in rows]), torch.cat([s.item for s in rows])
    negatives = draw_eval_negatives(users, bundle.train_items_by_user, bundle.n_items, n, positives=positives, seed=seed)
    return torch.cat([s.event_order for s in rows]), negatives
