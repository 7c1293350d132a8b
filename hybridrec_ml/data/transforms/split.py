"""Global temporal split of `interactions_5core` by `event_order`: train, then val, then test.

Cutting by `event_order` rather than by timestamp makes the split sizes exact even when a whole day
of reviews shares one timestamp; the last train row and the first val row may then share a `ts`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from hybridrec_ml.data.transforms.interactions import DataTooSmallError, read_interactions
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import TableBuild, replace_tables

_SPLIT_ROWS = "temporal_split_rows"
# $1 = first val event_order, $2 = first test event_order. The seen-in-train flags come from numpy.
_SPLIT_SQL = f"""
SELECT event_order, user_idx, item_idx, ts,
       CASE WHEN event_order < $1 THEN 'train' WHEN event_order < $2 THEN 'val' ELSE 'test' END,
       user_in_train, item_in_train
FROM {_SPLIT_ROWS}
"""
_BOUNDARIES_SQL = f"""
SELECT CASE event_order WHEN $1 THEN 'val' ELSE 'test' END, event_order, ts
FROM {schema.INTERACTIONS_5CORE}
WHERE event_order IN ($1, $2)
ORDER BY event_order
"""


@dataclass(frozen=True)
class SplitReport:
    rows: dict[str, int]  # per split
    rows_user_not_in_train: dict[str, int]  # val/test rows left out of evaluation
    rows_item_not_in_train: dict[str, int]  # val/test rows only content can score
    first_ts: dict[str, int]
    last_ts: dict[str, int]
    users: dict[str, int]
    items: dict[str, int]
    seconds: float

    def metadata(self) -> dict[str, int | float | str]:
        metadata: dict[str, int | float | str] = {"seconds": self.seconds}
        for name, per_split in vars(self).items():
            if isinstance(per_split, dict):
                metadata |= {f"{split}_{name}": value for split, value in per_split.items()}
        return metadata


def build_temporal_split(
    con: duckdb.DuckDBPyConnection, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> SplitReport:
    """Write `temporal_split` and `split_boundaries`: train = first fractions[0] of event_order, then val, test.

    Split sizes are floor(N * cumulative fraction) boundaries; `DataTooSmallError` if a split would be empty.
    """
    started = time.perf_counter()
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive shares summing to 1, got {fractions}")
    interactions = read_interactions(con, ["user_idx", "item_idx", "ts"])
    n = interactions.num_rows
    # The epsilon keeps e.g. 20 * 0.7 from flooring to 13 through binary rounding.
    val_start = int(n * fractions[0] + 1e-9)
    test_start = int(n * (fractions[0] + fractions[1]) + 1e-9)
    if not 0 < val_start < test_start < n:
        raise DataTooSmallError(
            f"{n} interactions cannot be split {fractions} with every split non-empty: use more data"
        )
    event_order, user, item, ts = (interactions.column(name).to_numpy() for name in interactions.column_names)
    # Rows are in event_order, so each split is one slice of them.
    bounds = [0, *np.searchsorted(event_order, [val_start, test_start]).tolist(), n]
    slices = {split: slice(bounds[i], bounds[i + 1]) for i, split in enumerate(schema.SPLITS)}
    # Seen in train: the user (item) has a row before the first val event.
    user_in_train = _seen(user, slices["train"])[user]
    item_in_train = _seen(item, slices["train"])[item]
    frame = interactions.append_column("user_in_train", pa.array(user_in_train)).append_column(
        "item_in_train", pa.array(item_in_train)
    )
    con.register(_SPLIT_ROWS, frame)
    try:
        replace_tables(
            con,
            [
                TableBuild(schema.TEMPORAL_SPLIT, schema.TEMPORAL_SPLIT_COLUMNS, _SPLIT_SQL, [val_start, test_start]),
                TableBuild(
                    schema.SPLIT_BOUNDARIES, schema.SPLIT_BOUNDARIES_COLUMNS, _BOUNDARIES_SQL, [val_start, test_start]
                ),
            ],
        )
    finally:
        con.unregister(_SPLIT_ROWS)
    evaluated = {split: slices[split] for split in schema.SPLITS[1:]}
    return SplitReport(
        rows={split: rows.stop - rows.start for split, rows in slices.items()},
        rows_user_not_in_train={split: int((~user_in_train[rows]).sum()) for split, rows in evaluated.items()},
        rows_item_not_in_train={split: int((~item_in_train[rows]).sum()) for split, rows in evaluated.items()},
        first_ts={split: int(ts[rows].min()) for split, rows in slices.items()},
        last_ts={split: int(ts[rows].max()) for split, rows in slices.items()},
        users={split: int(_seen(user, rows).sum()) for split, rows in slices.items()},
        items={split: int(_seen(item, rows).sum()) for split, rows in slices.items()},
        seconds=round(time.perf_counter() - started, 3),
    )


def _seen(index: np.ndarray, rows: slice) -> np.ndarray:
    """Per index value (user_idx or item_idx), whether it occurs in `rows`."""
    seen = np.zeros(int(index.max()) + 1, dtype=bool)
    seen[index[rows]] = True
    return seen
