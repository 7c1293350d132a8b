"""Per-interaction history: the user's previous items in `event_order`, capped, oldest first.

One window pass over `interactions_5core`; histories cross split boundaries on purpose (a test
row's history includes that user's earlier val/test rows), as in docs/architecture.md.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import duckdb

from hybridrec_ml.data import schema
from hybridrec_ml.data.warehouse import replace_table

# The frame ends one row before the current one, so the target and later items can never enter;
# ORDER BY inside array_agg fixes the list order (a frame alone does not), and an empty frame
# aggregates to NULL, hence the coalesce.
_SEQUENCES_SQL = f"""
SELECT event_order,
       coalesce(array_agg(item_idx ORDER BY event_order) OVER (
           PARTITION BY user_idx ORDER BY event_order ROWS BETWEEN $1 PRECEDING AND 1 PRECEDING
       ), []::INTEGER[])
FROM {schema.INTERACTIONS_5CORE}
ORDER BY event_order
"""
_STATS_SQL = f"""
SELECT count(*) FILTER (len(prev_items) = 0), count(*) FILTER (len(prev_items) = $1), avg(len(prev_items))
FROM {schema.USER_SEQUENCES}
"""


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
    rows = replace_table(con, schema.USER_SEQUENCES, schema.USER_SEQUENCES_COLUMNS, _SEQUENCES_SQL, [max_len])
    empty, full, mean_length = con.execute(_STATS_SQL, [max_len]).fetchall()[0]
    return SequenceReport(
        rows=rows,
        max_len=max_len,
        empty_histories=empty,
        full_histories=full,
        mean_length=round(float(mean_length or 0.0), 4),
        seconds=round(time.perf_counter() - started, 3),
    )
