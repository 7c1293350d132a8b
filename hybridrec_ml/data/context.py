"""Cyclic time-of-day and day-of-week features per interaction (UTC), as in docs/architecture.md.

hour = (ts mod 86400) / 3600, dow = Monday 0 .. Sunday 6; hour_sin/cos = sin/cos(2*pi*hour/24),
dow_sin/cos = sin/cos(2*pi*dow/7), is_weekend = 1 for dow in {5, 6}. Plain arithmetic on unix
seconds (1970-01-01 was a Thursday, dow 3) keeps the result independent of the session time zone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from hybridrec_ml.data import schema
from hybridrec_ml.data.warehouse import replace_table

SECONDS_PER_DAY = 86400

# Modulo written to floor (DuckDB's % keeps the dividend's sign) so pre-1970 stamps stay correct.
_CONTEXT_SQL = f"""
WITH clock AS (
    SELECT event_order,
           (ts % {SECONDS_PER_DAY} + {SECONDS_PER_DAY}) % {SECONDS_PER_DAY} AS second_of_day,
           ts
    FROM {schema.INTERACTIONS_5CORE}
), calendar AS (
    SELECT event_order,
           second_of_day / 3600.0 AS hour,
           (((ts - second_of_day) // {SECONDS_PER_DAY} + 3) % 7 + 7) % 7 AS dow
    FROM clock
)
SELECT event_order,
       sin(2 * pi() * hour / 24)::FLOAT,
       cos(2 * pi() * hour / 24)::FLOAT,
       sin(2 * pi() * dow / 7)::FLOAT,
       cos(2 * pi() * dow / 7)::FLOAT,
       CASE WHEN dow IN (5, 6) THEN 1.0 ELSE 0.0 END::FLOAT
FROM calendar
ORDER BY event_order
"""
_RANGES_SQL = f"""
SELECT {", ".join(f"min({name}) = max({name})" for name in schema.CONTEXT_FEATURE_NAMES)}
FROM {schema.CONTEXT_FEATURES}
"""


@dataclass(frozen=True)
class ContextReport:
    rows: int
    constant_features: tuple[str, ...]  # e.g. hour_sin and hour_cos on day-granular Amazon 2018 stamps
    seconds: float

    def metadata(self) -> dict[str, int | float | str]:
        return {
            "rows": self.rows,
            "constant_features": ", ".join(self.constant_features) or "none",
            "n_constant_features": len(self.constant_features),
            "seconds": self.seconds,
        }


def build_context_features(con: duckdb.DuckDBPyConnection) -> ContextReport:
    """Write `context_features`, one row per interaction in `event_order`."""
    started = time.perf_counter()
    rows = replace_table(con, schema.CONTEXT_FEATURES, schema.CONTEXT_FEATURES_COLUMNS, _CONTEXT_SQL)
    return ContextReport(
        rows=rows,
        constant_features=constant_context_features(con),
        seconds=round(time.perf_counter() - started, 3),
    )


def constant_context_features(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """Features of `context_features` that take a single value (none when the table is empty)."""
    flags = con.execute(_RANGES_SQL).fetchall()[0]
    return tuple(name for name, constant in zip(schema.CONTEXT_FEATURE_NAMES, flags) if constant)
