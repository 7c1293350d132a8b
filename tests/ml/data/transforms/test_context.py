import math

import duckdb
import numpy as np
import pytest

from hybridrec_ml.data.transforms.context import build_context_features
from hybridrec_ml.data.warehouse import schema

SATURDAY_18H = 1704564000  # 2024-01-06 18:00 UTC
MONDAY_0630 = 1704090600  # 2024-01-01 06:30 UTC
EPOCH = 0  # 1970-01-01 00:00 UTC, a Thursday
BEFORE_EPOCH = -1  # 1969-12-31 23:59:59 UTC, a Wednesday


def interactions(con: duckdb.DuckDBPyConnection, timestamps: list[int]) -> None:
    con.execute(f"CREATE TABLE {schema.INTERACTIONS_5CORE} {schema.ddl(schema.INTERACTIONS_5CORE_COLUMNS)}")
    con.executemany(
        f"INSERT INTO {schema.INTERACTIONS_5CORE} VALUES (?, 0, 0, NULL, ?)", list(enumerate(timestamps))
    )


def expected(hour: float, dow: int) -> tuple[float, ...]:
    """The formulas of docs/architecture.md, rounded to the FLOAT the table stores."""
    values = (
        math.sin(2 * math.pi * hour / 24),
        math.cos(2 * math.pi * hour / 24),
        math.sin(2 * math.pi * dow / 7),
        math.cos(2 * math.pi * dow / 7),
        1.0 if dow in (5, 6) else 0.0,
    )
    return tuple(float(np.float32(value)) for value in values)


def test_context_features_of_known_timestamps(con):
    interactions(con, [SATURDAY_18H, MONDAY_0630, EPOCH, BEFORE_EPOCH])

    report = build_context_features(con)

    rows = con.execute(
        "SELECT event_order, hour_sin, hour_cos, dow_sin, dow_cos, is_weekend FROM context_features ORDER BY 1"
    ).fetchall()
    assert rows == [
        (0, *expected(18.0, 5)),
        (1, *expected(6.5, 0)),
        (2, *expected(0.0, 3)),
        (3, *expected(86399 / 3600, 2)),
    ]
    # Spelled out for the Saturday 18:00 row: sin(3*pi/2) = -1, Saturday is dow 5 of 7.
    assert rows[0][1:] == pytest.approx((-1.0, 0.0, math.sin(10 * math.pi / 7), math.cos(10 * math.pi / 7), 1.0),
                                        abs=1e-7)
    assert report.metadata() | {"seconds": 0} == {
        "rows": 4, "constant_features": "none", "n_constant_features": 0, "seconds": 0
    }


def test_day_granular_timestamps_make_the_hour_features_constant(con):
    interactions(con, [SATURDAY_18H - 18 * 3600, MONDAY_0630 - 6 * 3600 - 1800])

    report = build_context_features(con)

    assert report.constant_features == ("hour_sin", "hour_cos")
    assert con.execute("SELECT DISTINCT hour_sin, hour_cos FROM context_features").fetchall() == [(0.0, 1.0)]
