"""Iterative k-core filter of `raw_reviews`, and stable integer indices for what survives it.

The filter runs in numpy on integer codes (one `bincount` per side and pass) rather than as
repeated SQL deletes over string keys: codes are ranks of the sorted string ids, so the final
`user_idx` / `item_idx` and the `(ts, user_id, item_id)` tie-break follow from them directly.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import duckdb
import numpy as np
import pandas as pd

from hybridrec_ml.data import schema
from hybridrec_ml.data.warehouse import replace_table

_USER_CODES = "kcore_user_codes"
_ITEM_CODES = "kcore_item_codes"
_KEPT_USERS = "kcore_kept_users"
_KEPT_ITEMS = "kcore_kept_items"
_CORE_ROWS = "kcore_rows"

# code = rank of the id in sorted order; DuckDB's VARCHAR order is the one every consumer sees.
_CODES_SQL = """
CREATE OR REPLACE TEMP TABLE {codes} AS
SELECT {column} AS id, (row_number() OVER (ORDER BY {column}) - 1)::INTEGER AS code
FROM (SELECT DISTINCT {column} FROM {table})
"""
_REVIEW_CODES_SQL = f"""
SELECT r.rowid AS row_id, u.code AS user_code, i.code AS item_code, r.ts
FROM {schema.RAW_REVIEWS} AS r
JOIN {_USER_CODES} AS u ON u.id = r.user_id
JOIN {_ITEM_CODES} AS i ON i.id = r.item_id
"""
_USER_INDEX_SQL = f"""
SELECT k.idx, c.id FROM {_KEPT_USERS} AS k JOIN {_USER_CODES} AS c ON c.code = k.code ORDER BY k.idx
"""
_ITEM_INDEX_SQL = f"""
SELECT k.idx, c.id FROM {_KEPT_ITEMS} AS k JOIN {_ITEM_CODES} AS c ON c.code = k.code ORDER BY k.idx
"""
_INTERACTIONS_SQL = f"""
SELECT k.event_order, k.user_idx, k.item_idx, r.rating, r.ts
FROM {_CORE_ROWS} AS k JOIN {schema.RAW_REVIEWS} AS r ON r.rowid = k.row_id
ORDER BY k.event_order
"""


class DataTooSmallError(ValueError):
    """Too little data survives a filtering step to go on."""


@dataclass(frozen=True)
class CoreReport:
    k: int
    passes: int  # filtering rounds that removed something (0: the input already was a k-core)
    input_interactions: int
    interactions: int
    users: int
    items: int
    density: float  # interactions / (users * items)
    seconds: float

    def metadata(self) -> dict[str, int | float | str]:
        return asdict(self)


def build_interactions_5core(con: duckdb.DuckDBPyConnection, k: int = 5) -> CoreReport:
    """Write `user_index`, `item_index` and `interactions_5core` from the k-core of `raw_reviews`.

    Users and items with fewer than `k` interactions are removed together, round after round,
    until every remaining user and item has at least `k`. Raises `DataTooSmallError` when nothing
    survives.
    """
    started = time.perf_counter()
    try:
        for codes, column in ((_USER_CODES, "user_id"), (_ITEM_CODES, "item_id")):
            con.execute(_CODES_SQL.format(codes=codes, column=column, table=schema.RAW_REVIEWS)).fetchall()
        reviews = con.execute(_REVIEW_CODES_SQL).fetchnumpy()
        user, item = reviews["user_code"].astype(np.int64), reviews["item_code"].astype(np.int64)
        keep, passes = _k_core_mask(user, item, k)
        if not keep.any():
            raise DataTooSmallError(
                f"the {k}-core of {len(user)} reviews ({_count_distinct(user)} users, {_count_distinct(item)} items) "
                f"is empty: lower k or use more data"
            )
        user_idx, n_users = _dense_ranks(user, keep)
        item_idx, n_items = _dense_ranks(item, keep)
        kept = np.flatnonzero(keep)
        ts = reviews["ts"][kept]
        order = kept[np.lexsort((item_idx[kept], user_idx[kept], ts))]

        frames = {
            _KEPT_USERS: pd.DataFrame({"code": np.unique(user[kept]), "idx": np.arange(n_users, dtype=np.int32)}),
            _KEPT_ITEMS: pd.DataFrame({"code": np.unique(item[kept]), "idx": np.arange(n_items, dtype=np.int32)}),
            _CORE_ROWS: pd.DataFrame(
                {
                    "row_id": reviews["row_id"][order],
                    "event_order": np.arange(len(order), dtype=np.int64),
                    "user_idx": user_idx[order].astype(np.int32),
                    "item_idx": item_idx[order].astype(np.int32),
                }
            ),
        }
        for name, frame in frames.items():
            con.register(name, frame)
        replace_table(con, schema.USER_INDEX, schema.USER_INDEX_COLUMNS, _USER_INDEX_SQL)
        replace_table(con, schema.ITEM_INDEX, schema.ITEM_INDEX_COLUMNS, _ITEM_INDEX_SQL)
        interactions = replace_table(con, schema.INTERACTIONS_5CORE, schema.INTERACTIONS_5CORE_COLUMNS, _INTERACTIONS_SQL)
    finally:
        for name in (_KEPT_USERS, _KEPT_ITEMS, _CORE_ROWS):
            con.unregister(name)
        for table in (_USER_CODES, _ITEM_CODES):
            con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()
    return CoreReport(
        k=k,
        passes=passes,
        input_interactions=len(user),
        interactions=interactions,
        users=n_users,
        items=n_items,
        density=interactions / (n_users * n_items),
        seconds=round(time.perf_counter() - started, 3),
    )


def _k_core_mask(user: np.ndarray, item: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    """Rows in the k-core, and the number of rounds that removed rows."""
    keep = np.ones(len(user), dtype=bool)
    passes = 0
    while True:
        user_count = np.bincount(user[keep], minlength=int(user.max(initial=-1)) + 1)
        item_count = np.bincount(item[keep], minlength=int(item.max(initial=-1)) + 1)
        drop = keep & ((user_count[user] < k) | (item_count[item] < k))
        if not drop.any():
            return keep, passes
        keep &= ~drop
        passes += 1


def _dense_ranks(codes: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, int]:
    """Per row, the rank of its code among the codes of kept rows (codes are sorted-id ranks)."""
    present = np.zeros(int(codes.max(initial=-1)) + 1, dtype=bool)
    present[codes[keep]] = True
    rank = np.cumsum(present) - 1
    return rank[codes], int(present.sum())


def _count_distinct(codes: np.ndarray) -> int:
    return int(np.unique(codes).size)
