"""Per-interaction history: the user's previous items in `event_order`, capped, oldest first.

Computed with numpy from (user_idx, item_idx) in event_order rather than as a window aggregate:
one sort groups each user's rows, every history is then a slice of that user's item sequence, and
DuckDB receives the lists as one Arrow list array (offsets + values). Histories cross split
boundaries on purpose (a test row's history includes that user's earlier val/test rows), as in
docs/architecture.md.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import duckdb
import numpy as np
import pyarrow as pa

from hybridrec_ml.data.transforms.interactions import read_interactions
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import TableBuild, replace_tables

_HISTORY_ROWS = "user_sequence_rows"
_SEQUENCES_SQL = f"SELECT event_order, prev_items FROM {_HISTORY_ROWS}"
_ROW_BITS = 32  # row positions (< 2**31) share one int64 sort key with an int32 user_idx
_BLOCK_ROWS = 1 << 16


@dataclass(frozen=True)
class SequenceReport:
    rows: int
    max_len: int
    empty_histories: int  # first interaction of a user
    full_histories: int  # histories at the max_len cap
    mean_length: float
    seconds: float

    def metadata(self) -> dict[str, int | float | str]:
        return asdict(self)


def build_user_sequences(con: duckdb.DuckDBPyConnection, max_len: int = 50) -> SequenceReport:
    """Write `user_sequences`: for every interaction, the <= `max_len` previous item_idx of its user."""
    started = time.perf_counter()
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    interactions = read_interactions(con, ["user_idx", "item_idx"])
    histories = _histories(
        interactions.column("user_idx").to_numpy(), interactions.column("item_idx").to_numpy(), max_len
    )
    con.register(_HISTORY_ROWS, pa.table({"event_order": interactions.column("event_order"), "prev_items": histories}))
    try:
        (rows,) = replace_tables(
            con, [TableBuild(schema.USER_SEQUENCES, schema.USER_SEQUENCES_COLUMNS, _SEQUENCES_SQL)]
        )
    finally:
        con.unregister(_HISTORY_ROWS)
    lengths = np.diff(histories.offsets.to_numpy())
    return SequenceReport(
        rows=rows,
        max_len=max_len,
        empty_histories=int((lengths == 0).sum()),
        full_histories=int((lengths == max_len).sum()),
        mean_length=round(int(lengths.sum()) / len(lengths), 4) if len(lengths) else 0.0,
        seconds=round(time.perf_counter() - started, 3),
    )


def _histories(user: np.ndarray, item: np.ndarray, max_len: int) -> pa.LargeListArray:
    """Per row (rows in event_order), the item of the same user's previous <= `max_len` rows, oldest first.

    Written to allocate little: faulting in fresh pages cost as much as the arithmetic (perf).
    """
    n = len(user)
    rows = np.arange(n)
    by_user = _grouped_rows(user, rows)
    grouped_lengths = _rank_in_group(user[by_user], rows)
    np.minimum(grouped_lengths, max_len, out=grouped_lengths)
    lengths = np.empty(n, dtype=np.int64)
    lengths[by_user] = grouped_lengths
    starts = np.empty(n, dtype=np.int64)  # where each row's history begins in the grouped order
    starts[by_user] = np.subtract(rows, grouped_lengths, out=grouped_lengths)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeListArray.from_arrays(offsets, _gather_ranges(item[by_user], starts, lengths, offsets))


def _grouped_rows(user: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`rows` grouped by user, in event_order within a user: one sort of (user, row) packed into an int64."""
    key = user.astype(np.int64)
    key <<= _ROW_BITS
    key |= rows
    key.sort()
    key &= (1 << _ROW_BITS) - 1
    return key


def _rank_in_group(grouped: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per position of `grouped` (equal values adjacent), how many positions of its group come before it."""
    first = np.zeros(len(grouped), dtype=np.int64)  # position of the group's first element
    np.multiply(grouped[1:] != grouped[:-1], rows[1:], out=first[1:])
    np.maximum.accumulate(first, out=first)
    return np.subtract(rows, first, out=first)


def _gather_ranges(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """values[starts[i] : starts[i] + lengths[i]] for every i, concatenated at offsets[i].

    Block by block, so the position arrays stay a few MB and reuse memory rather than fault in new pages.
    """
    out = np.empty(offsets[-1], dtype=values.dtype)
    for block in range(0, len(starts), _BLOCK_ROWS):
        rows = slice(block, block + _BLOCK_ROWS)
        positions = np.repeat(starts[rows] - offsets[:-1][rows] + offsets[block], lengths[rows])
        positions += np.arange(len(positions))
        out[offsets[block] : offsets[block] + len(positions)] = values[positions]
    return out
