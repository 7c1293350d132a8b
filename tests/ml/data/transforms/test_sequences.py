import duckdb
import pytest

from hybridrec_ml.data.transforms.sequences import build_user_sequences
from hybridrec_ml.data.warehouse import schema


def interactions(con: duckdb.DuckDBPyConnection, rows: list[tuple[int, int]]) -> None:
    """rows: (user_idx, item_idx) in event_order; ts = event_order."""
    con.execute(f"CREATE TABLE {schema.INTERACTIONS_5CORE} {schema.ddl(schema.INTERACTIONS_5CORE_COLUMNS)}")
    con.executemany(
        f"INSERT INTO {schema.INTERACTIONS_5CORE} VALUES (?, ?, ?, NULL, ?)",
        [(event_order, user, item, event_order) for event_order, (user, item) in enumerate(rows)],
    )


def sequences(con: duckdb.DuckDBPyConnection) -> list[tuple[int, list[int]]]:
    return con.execute("SELECT event_order, prev_items FROM user_sequences ORDER BY event_order").fetchall()


def test_histories_are_strictly_earlier_items_oldest_first_and_capped(con):
    # Two interleaved users; user 0 reviews items 10..14, user 1 items 20..21. Item ids descend in
    # event order for user 1, so a list sorted by value instead of by event_order would show.
    interactions(con, [(0, 10), (1, 21), (0, 11), (0, 12), (1, 20), (0, 13), (0, 14)])

    report = build_user_sequences(con, max_len=3)

    assert sequences(con) == [
        (0, []),
        (1, []),
        (2, [10]),
        (3, [10, 11]),
        (4, [21]),
        (5, [10, 11, 12]),
        (6, [11, 12, 13]),  # capped: the oldest item (10) falls out
    ]
    assert report.metadata() | {"seconds": 0} == {
        "rows": 7, "max_len": 3, "empty_histories": 2, "full_histories": 2, "mean_length": 1.4286, "seconds": 0
    }


def test_default_cap_keeps_the_fifty_most_recent_items(con):
    interactions(con, [(0, 100 + position) for position in range(55)])

    build_user_sequences(con)

    rows = sequences(con)
    assert rows[50] == (50, list(range(100, 150)))
    assert rows[54] == (54, list(range(104, 154)))
    assert [len(history) for _, history in rows] == list(range(51)) + [50] * 4


def test_max_len_must_be_positive(con):
    with pytest.raises(ValueError, match="max_len must be at least 1"):
        build_user_sequences(con, max_len=0)


def test_rows_stored_out_of_event_order_give_the_same_histories(con):
    rows = [(0, 10), (1, 21), (0, 11), (0, 12), (1, 20)]
    con.execute(f"CREATE TABLE {schema.INTERACTIONS_5CORE} {schema.ddl(schema.INTERACTIONS_5CORE_COLUMNS)}")
    con.executemany(
        f"INSERT INTO {schema.INTERACTIONS_5CORE} VALUES (?, ?, ?, NULL, ?)",
        [(event_order, user, item, event_order) for event_order, (user, item) in reversed(list(enumerate(rows)))],
    )

    build_user_sequences(con, max_len=2)

    assert sequences(con) == [(0, []), (1, []), (2, [10]), (3, [10, 11]), (4, [21])]
