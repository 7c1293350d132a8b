"""Sampled-evaluation negatives: drawn once per seed, stored in DuckDB, reused by every variant.

Every variant must be ranked against the same 99 negatives per val/test interaction, otherwise
differences between variants mix model quality with sampling noise; hence draw once, store, load.
By default a row's negatives avoid every item its user ever had (train, val or test: an item the
user consumed is no negative); the `train_only` mask, the study's, avoids only training items.
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pyarrow as pa
import torch

from hybridrec_ml.data.transforms.interactions import DataTooSmallError
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import replace_table
from hybridrec_ml.tensors.bundle import EvaluationRows, SparseRows
from hybridrec_ml.tensors.bundle_loader import first_in_runs

# Name under which the negatives frame is visible to DuckDB while the table is rewritten.
_FRAME = "eval_negatives_frame"


MASKS = ("history", "train_only")


def check_mask(mask: str) -> None:
    if mask not in MASKS:
        raise ValueError(f"mask must be one of {MASKS}, got {mask!r}")


def _draw_width(n: int, n_items: int, typical_allowed: float) -> int:
    """Draws per row so a typical row has ~1.2n + 8 distinct allowed items (few rows need a refill).

    With m uniform draws the expected number of distinct allowed items is A(1 - e^(-m/n_items)).
    """
    target = 1.2 * n + 8
    cap = 8 * n + 64
    if target >= typical_allowed:
        return cap
    return min(cap, math.ceil(-n_items * math.log1p(-target / typical_allowed)))


def _excluded_keys(
    users: torch.Tensor, positives: torch.Tensor, excluded_by_user: SparseRows, item_bits: int
) -> np.ndarray:
    """Sorted unique keys row << item_bits | item of what each row may not draw: its user's excluded
    items and its own positive. Unique, so they also count each row's forbidden items."""
    ptr, index = excluded_by_user.ptr.cpu().numpy(), excluded_by_user.index.cpu().numpy()
    users, rows = users.numpy(), np.arange(users.numel())
    start, length = ptr[users], ptr[users + 1] - ptr[users]
    row = np.repeat(rows, length)
    item = index[np.arange(row.size) + np.repeat(start - np.cumsum(length) + length, length)]
    keys = np.concatenate([row << item_bits | item, rows << item_bits | positives.numpy()])
    keys.sort()
    return keys[first_in_runs(keys)]


def _usable(candidates: torch.Tensor, excluded: np.ndarray, item_bits: int) -> np.ndarray:
    """Where a candidate [rows, width] is the first draw of an item its row may draw.

    `excluded` holds the chunk's sorted keys row << item_bits | item (row within the chunk). Sorting
    each row's (item, draw position) keys puts repeats right behind their first draw, and the forbidden
    items then cost one search per excluded pair (~11 per row at full scale) inside its sorted row,
    instead of one search of all training pairs per candidate (~127 per row).
    """
    rows, width = candidates.shape
    pos_bits = (width - 1).bit_length()
    key_type = np.int32 if item_bits + pos_bits < 32 else np.int64  # int32 rows sort twice as fast
    keys = candidates.numpy().astype(key_type) << pos_bits
    keys |= np.arange(width, dtype=key_type)
    keys.sort(axis=1)
    items = keys >> pos_bits
    bad = np.zeros((rows, width), dtype=bool)  # in sorted order
    np.equal(items[:, 1:], items[:, :-1], out=bad[:, 1:])  # repeats
    bad.ravel()[_find_in_rows(items, excluded >> item_bits, excluded & ((1 << item_bits) - 1))] = True
    flat = np.flatnonzero(bad)  # few: ~0.06 per row
    usable = np.ones((rows, width), dtype=bool)
    usable[flat // width, keys.ravel()[flat] & ((1 << pos_bits) - 1)] = False
    return usable


def _find_in_rows(sorted_rows: np.ndarray, row: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Flat index of the first value[i] in sorted_rows[row[i]], for the values that occur there.

    A branchless bisection of all queries at once, kept inside each query's row: log2(width) steps
    (7 for 127 draws) instead of a binary search over an int64 copy of the whole chunk (22 steps).
    """
    width = sorted_rows.shape[1]
    flat = sorted_rows.ravel()
    base, span = row * width, width
    while span > 1:  # the first entry >= value is in [base, base + span]
        half = span // 2
        base += (flat[base + half] < value) * half
        span -= half
    base = np.minimum(base + (flat[base] < value), row * width + width - 1)
    return base[flat[base] == value]


def _first_n(candidates: torch.Tensor, usable: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(the first n usable candidates of each complete row [complete rows, n], which rows are complete)."""
    taken = torch.from_numpy(usable).cumsum(dim=1, dtype=torch.int32).numpy()  # 3x numpy's cumsum along rows
    complete = taken[:, -1] >= n
    keep = usable & (taken <= n) & complete[:, None]
    return candidates.numpy()[keep].reshape(-1, n), complete


def draw_eval_negatives(
    users: torch.Tensor,
    excluded_by_user: SparseRows,
    n_items: int,
    n: int = 99,
    *,
    positives: torch.Tensor,
    seed: int,
    chunk_rows: int = 32768,
) -> torch.Tensor:
    """n negatives per row [N, n]: uniform over the items outside `excluded_by_user[user]`.

    The row's own positive is excluded as well: drawing it as a "negative" would tie with itself
    and cost the model a rank.

    Oversample uniform draws, reject excluded pairs, the positive and repeats within a row, keep
    the first n survivors: that is sequential sampling without replacement from the allowed items,
    so each row is a uniform n-subset. Rows left short (heavy users) are redrawn exactly from their
    allowed set. Deterministic for (seed, chunk_rows); stored results depend on this exact random
    stream, so a faster version must draw the same candidates and keep the same ones.
    `DataTooSmallError` when a user has fewer than n allowed items (a catalogue too small for n).
    """
    users, positives = users.to(torch.int64).cpu(), positives.to(torch.int64).cpu()
    if users.numel() == 0:
        return torch.empty((0, n), dtype=torch.int64)
    item_bits = (n_items - 1).bit_length()
    excluded = _excluded_keys(users, positives, excluded_by_user, item_bits)
    allowed = n_items - torch.from_numpy(np.bincount(excluded >> item_bits, minlength=users.numel()))
    if int(allowed.min()) < n:
        raise DataTooSmallError(
            f"the catalogue has {n_items} items and a user has only {int(allowed.min())} of them outside its "
            f"excluded items and its positive; {n} negatives per row are needed (a larger catalogue, or fewer "
            "negatives)"
        )
    generator = torch.Generator().manual_seed(seed)
    width = _draw_width(n, n_items, float(allowed.double().median()))
    if max((users.numel() - 1).bit_length(), (width - 1).bit_length()) + item_bits > 63:
        raise ValueError(f"{users.numel()} rows x {n_items} items x {width} draws overflow the int64 keys")
    negatives = np.empty((users.numel(), n), dtype=np.int64)
    short_rows: list[int] = []
    for start in range(0, users.numel(), chunk_rows):
        stop = min(start + chunk_rows, users.numel())
        candidates = torch.randint(n_items, (stop - start, width), generator=generator)
        lo, hi = np.searchsorted(excluded, [start << item_bits, stop << item_bits])
        usable = _usable(candidates, excluded[lo:hi] - (start << item_bits), item_bits)
        values, complete = _first_n(candidates, usable, n)
        negatives[start:stop][complete] = values
        short_rows.extend((start + np.flatnonzero(~complete)).tolist())
    for row in short_rows:
        negatives[row] = _draw_exact(int(users[row]), int(positives[row]), excluded_by_user, n_items, n, generator)
    return torch.from_numpy(negatives)


def _draw_exact(
    user: int, positive: int, excluded_by_user: SparseRows, n_items: int, n: int, generator: torch.Generator
) -> torch.Tensor:
    """n items uniformly without replacement from the row's allowed set (the rare refill path)."""
    allowed = torch.ones(n_items, dtype=torch.bool)
    allowed[excluded_by_user.index[excluded_by_user.ptr[user] : excluded_by_user.ptr[user + 1]].cpu()] = False
    allowed[positive] = False
    items = torch.nonzero(allowed).flatten()
    return items[torch.randperm(items.numel(), generator=generator)[:n]]


def store_eval_negatives(con: duckdb.DuckDBPyConnection, event_order: torch.Tensor, negatives: torch.Tensor) -> int:
    """Replace `eval_negatives` with one row per event_order (atomic rewrite); returns rows written.

    The lists go to DuckDB as one Arrow list column over the flat [N * n] values: no per-row objects.
    """
    if event_order.numel() != negatives.shape[0]:
        raise ValueError(f"{event_order.numel()} event_order values for {negatives.shape[0]} negative rows")
    order_column, negatives_column = schema.EVAL_NEGATIVES_COLUMNS
    offsets = np.arange(negatives.shape[0] + 1, dtype=np.int64) * negatives.shape[1]
    frame = pa.table(
        {
            order_column: event_order.cpu().numpy().astype(np.int64),
            negatives_column: pa.LargeListArray.from_arrays(offsets, negatives.cpu().numpy().astype(np.int32).ravel()),
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


def draw_split_negatives(
    rows: EvaluationRows, n: int = 99, *, seed: int, mask: str = "history"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(event_order, negatives) for every val and test row, drawn once for all variants.

    mask "history" (default): never an item the user had in any split; "train_only": never a
    training item of the user (the study's rule, kept for comparison).
    """
    check_mask(mask)
    excluded = rows.items_by_user if mask == "history" else rows.train_items_by_user
    return rows.event_order, draw_eval_negatives(rows.user, excluded, rows.n_items, n, positives=rows.item, seed=seed)
