import duckdb
import pytest

from hybridrec_ml.data.transforms.interactions import DataTooSmallError
from hybridrec_ml.data.transforms.split import build_temporal_split
from hybridrec_ml.data.warehouse import schema


def interactions(con: duckdb.DuckDBPyConnection, rows: list[tuple[int, int, int]]) -> None:
    """rows: (user_idx, item_idx, ts) in event_order."""
    con.execute(f"CREATE TABLE {schema.INTERACTIONS_5CORE} {schema.ddl(schema.INTERACTIONS_5CORE_COLUMNS)}")
    con.executemany(
        f"INSERT INTO {schema.INTERACTIONS_5CORE} VALUES (?, ?, ?, 5.0, ?)",
        [(event_order, *row) for event_order, row in enumerate(rows)],
    )


# 20 events: train = 0..13 (floor 0.7 * 20), val = 14..16, test = 17..19. Events 12..15 share
# ts 1300, so the train/val boundary falls inside a tie. User 3 first appears in val, item 4 in test.
EVENTS = [(e % 3, e % 4, 100 * e) for e in range(12)] + [
    (0, 0, 1300),
    (1, 1, 1300),
    (3, 0, 1300),
    (3, 2, 1300),
    (2, 2, 1600),
    (0, 4, 1700),
    (3, 4, 1800),
    (1, 3, 1900),
]


def test_split_cuts_by_event_order_inside_a_timestamp_tie(con):
    interactions(con, EVENTS)

    report = build_temporal_split(con)

    rows = con.execute(
        "SELECT event_order, user_idx, item_idx, ts, split, user_in_train, item_in_train "
        "FROM temporal_split ORDER BY event_order"
    ).fetchall()
    assert rows[:14] == [(e, u, i, ts, "train", True, True) for e, (u, i, ts) in enumerate(EVENTS[:14])]
    assert rows[14:] == [
        (14, 3, 0, 1300, "val", False, True),
        (15, 3, 2, 1300, "val", False, True),
        (16, 2, 2, 1600, "val", True, True),
        (17, 0, 4, 1700, "test", True, False),
        (18, 3, 4, 1800, "test", False, False),
        (19, 1, 3, 1900, "test", True, True),
    ]
    assert con.execute("SELECT split, first_event_order, first_ts FROM split_boundaries ORDER BY 2").fetchall() == [
        ("val", 14, 1300),
        ("test", 17, 1700),
    ]
    assert report.metadata() | {"seconds": 0} == {
        "seconds": 0,
        "train_rows": 14, "val_rows": 3, "test_rows": 3,
        "val_rows_user_not_in_train": 2, "test_rows_user_not_in_train": 1,
        "val_rows_item_not_in_train": 0, "test_rows_item_not_in_train": 2,
        "train_first_ts": 0, "val_first_ts": 1300, "test_first_ts": 1700,
        "train_last_ts": 1300, "val_last_ts": 1600, "test_last_ts": 1900,
        "train_users": 3, "val_users": 2, "test_users": 3,
        "train_items": 4, "val_items": 2, "test_items": 2,
    }


def test_other_fractions_move_the_boundaries(con):
    interactions(con, EVENTS)

    build_temporal_split(con, fractions=(0.5, 0.25, 0.25))

    assert con.execute("SELECT split, first_event_order FROM split_boundaries ORDER BY 2").fetchall() == [
        ("val", 10), ("test", 15)
    ]


def test_fractions_must_be_three_positive_shares_of_one(con):
    with pytest.raises(ValueError, match="three positive shares summing to 1"):
        build_temporal_split(con, fractions=(0.7, 0.2, 0.2))


def test_a_split_that_would_be_empty_raises_data_too_small(con):
    interactions(con, EVENTS[:3])  # val would start at floor(2.1) = 2 and test at floor(2.55) = 2

    with pytest.raises(DataTooSmallError, match="3 interactions cannot be split"):
        build_temporal_split(con)
