"""Global temporal split of `interactions_5core` by `event_order`: train, then val, then test.

Cutting by `event_order` rather than by timestamp makes the split sizes exact even when a whole day
of reviews shares one timestamp; the last train row and the first val row may then share a `ts`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from hybridrec_ml.data import schema
from hybridrec_ml.data.interactions import DataTooSmallError
from hybridrec_ml.data.warehouse import TableBuild, replace_tables

SPLITS = ("train", "val", "test")

# $1 = first val event_order, $2 = first test event_order. Seen-in-train is "the first interaction
# of that user (item) is in train".
_SPLIT_SQL = f"""
WITH user_first AS (
    SELECT user_idx, min(event_order) AS first_event FROM {schema.INTERACTIONS_5CORE} GROUP BY user_idx
), item_first AS (
    SELECT item_idx, min(event_order) AS first_event FROM {schema.INTERACTIONS_5CORE} GROUP BY item_idx
)
SELECT i.event_order, i.user_idx, i.item_idx, i.ts,
       CASE WHEN i.event_order < $1 THEN 'train' WHEN i.event_order < $2 THEN 'val' ELSE 'test' END,
       u.first_event < $1,
       it.first_event < $1
FROM {schema.INTERACTIONS_5CORE} AS i
JOIN user_first AS u ON u.user_idx = i.user_idx
JOIN item_first AS it ON it.item_idx = i.item_idx
ORDER BY i.event_order
"""
_BOUNDARIES_SQL = f"""
SELECT CASE event_order WHEN $1 THEN 'val' ELSE 'test' END, event_order, ts
FROM {schema.INTERACTIONS_5CORE}
WHERE event_order IN ($1, $2)
ORDER BY event_order
"""
_COUNT_SQL = f"SELECT count(*) FROM {schema.INTERACTIONS_5CORE}"
_STATS_SQL = f"""
SELECT split, count(*), count(*) FILTER (NOT user_in_train), count(*) FILTER (NOT item_in_train),
       min(ts), max(ts), count(DISTINCT user_idx), count(DISTINCT item_idx)
FROM {schema.TEMPORAL_SPLIT}
GROUP BY split
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
    n = con.execute(_COUNT_SQL).fetchall()[0][0]
    # The epsilon keeps e.g. 20 * 0.7 from flooring to 13 through binary rounding.
    val_start = int(n * fractions[0] + 1e-9)
    test_start = int(n * (fractions[0] + fractions[1]) + 1e-9)
    if not 0 < val_start < test_start < n:
        raise DataTooSmallError(
            f"{n} interactions cannot be split {fractions} with every split non-empty: use more data"
        )
    replace_tables(
        con,
        [
            TableBuild(schema.TEMPORAL_SPLIT, schema.TEMPORAL_SPLIT_COLUMNS, _SPLIT_SQL, [val_start, test_start]),
            TableBuild(schema.SPLIT_BOUNDARIES, schema.SPLIT_BOUNDARIES_COLUMNS, _BOUNDARIES_SQL, [val_start, test_start]),
        ],
    )
    stats = {split: values for split, *values in con.execute(_STATS_SQL).fetchall()}

    def per_split(position: int, splits: tuple[str, ...] = SPLITS) -> dict[str, int]:
        return {split: stats[split][position] for split in splits}

    return SplitReport(
        rows=per_split(0),
        rows_user_not_in_train=per_split(1, SPLITS[1:]),
        rows_item_not_in_train=per_split(2, SPLITS[1:]),
        first_ts=per_split(3),
        last_ts=per_split(4),
        users=per_split(5),
        items=per_split(6),
        seconds=round(time.perf_counter() - started, 3),
    )
