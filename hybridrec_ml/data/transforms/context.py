"""Cyclic time-of-day and day-of-week features per interaction (UTC), as in docs/architecture.md.

hour = (ts mod 86400) / 3600, dow = Monday 0 .. Sunday 6; hour_sin/cos = sin/cos(2*pi*hour/24),
dow_sin/cos = sin/cos(2*pi*dow/7), is_weekend = 1 for dow in {5, 6}. Plain arithmetic on unix
seconds (1970-01-01 was a Thursday, dow 3) keeps the result independent of the session time zone.

The features depend on ts only through its second of the day and its day of the week, so DuckDB
evaluates the formulas once per possible value (86400 seconds, 7 days) and numpy looks them up per
row: the same floats as evaluating them per row, without 27M sin/cos calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from hybridrec_ml.data.transforms.interactions import read_interactions
from hybridrec_ml.data.unix_time import SECONDS_PER_DAY, weekday_and_second_of_day
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import TableBuild, replace_tables


# Per second of the day, then per day of the week: the features in schema.CONTEXT_FEATURE_NAMES order.
_HOUR_FEATURES_SQL = f"""
SELECT sin(2 * pi() * hour / 24)::FLOAT, cos(2 * pi() * hour / 24)::FLOAT
FROM (SELECT range / 3600.0 AS hour FROM range({SECONDS_PER_DAY}))
"""
_DAY_FEATURES_SQL = """
SELECT sin(2 * pi() * dow / 7)::FLOAT, cos(2 * pi() * dow / 7)::FLOAT,
       CASE WHEN dow IN (5, 6) THEN 1.0 ELSE 0.0 END::FLOAT
FROM (SELECT range AS dow FROM range(7))
"""
_CONTEXT_ROWS = "context_feature_rows"
_CONTEXT_SQL = f"SELECT {schema.column_list(schema.CONTEXT_FEATURES_COLUMNS)} FROM {_CONTEXT_ROWS}"
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
    interactions = read_interactions(con, ["ts"])
    # Floor division and modulo, so pre-1970 stamps get the right day and second.
    dow, second_of_day = weekday_and_second_of_day(interactions.column("ts").to_numpy())
    per_row = [
        values.to_numpy()[index]
        for per_value, index in ((_HOUR_FEATURES_SQL, second_of_day), (_DAY_FEATURES_SQL, dow))
        for values in con.sql(per_value).to_arrow_table().columns
    ]
    features = dict(zip(schema.CONTEXT_FEATURE_NAMES, per_row, strict=True))
    con.register(_CONTEXT_ROWS, pa.table({"event_order": interactions.column("event_order"), **features}))
    try:
        (rows,) = replace_tables(
            con, [TableBuild(schema.CONTEXT_FEATURES, schema.CONTEXT_FEATURES_COLUMNS, _CONTEXT_SQL)]
        )
    finally:
        con.unregister(_CONTEXT_ROWS)
    return ContextReport(
        rows=rows,
        # From the arrays just written rather than a query over the table (see constant_context_features).
        constant_features=tuple(
            name for name in schema.CONTEXT_FEATURE_NAMES if rows and features[name].min() == features[name].max()
        ),
        seconds=round(time.perf_counter() - started, 3),
    )


def constant_context_features(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """Features of `context_features` that take a single value (none when the table is empty)."""
    flags = con.execute(_RANGES_SQL).fetchall()[0]
    return tuple(name for name, constant in zip(schema.CONTEXT_FEATURE_NAMES, flags) if constant)
