import duckdb
import pytest

from hybridrec_ml.data.transforms.interactions import DataTooSmallError, build_interactions_5core
from hybridrec_ml.data.warehouse import schema


def raw_reviews(con: duckdb.DuckDBPyConnection, reviews: list[tuple[str, str, float, int]]) -> None:
    con.execute(f"CREATE TABLE {schema.RAW_REVIEWS} {schema.ddl(schema.RAW_REVIEWS_COLUMNS)}")
    con.executemany(
        f"INSERT INTO {schema.RAW_REVIEWS} VALUES (?, ?, ?, ?, NULL, NULL, 'r.json.gz', ?)",
        [(*review, line_no) for line_no, review in enumerate(reviews, start=1)],
    )


def test_k_core_cascades_over_three_passes_and_orders_events_by_ts_user_item(con):
    # k=2. Pass 1 drops E (1 review); z is then left with D only, so pass 2 drops D-z; D is then
    # left with x only, so pass 3 drops D-x. String order puts "u10" before "u9".
    raw_reviews(
        con,
        [
            ("u9", "x", 5.0, 300),
            ("u9", "y", 4.0, 100),
            ("u10", "x", 3.0, 100),
            ("u10", "y", 2.0, 200),
            ("w", "y", 1.0, 100),
            ("w", "x", None, 100),
            ("D", "x", 5.0, 50),
            ("D", "z", 5.0, 60),
            ("E", "z", 5.0, 70),
        ],
    )

    report = build_interactions_5core(con, k=2)

    assert con.execute("SELECT user_idx, user_id FROM user_index ORDER BY user_idx").fetchall() == [
        (0, "u10"), (1, "u9"), (2, "w")
    ]
    assert con.execute("SELECT item_idx, item_id FROM item_index ORDER BY item_idx").fetchall() == [(0, "x"), (1, "y")]
    assert con.execute(
        "SELECT event_order, user_idx, item_idx, rating, ts FROM interactions_5core ORDER BY event_order"
    ).fetchall() == [
        (0, 0, 0, 3.0, 100),  # ts 100: u10 < u9 < w, then x < y
        (1, 1, 1, 4.0, 100),
        (2, 2, 0, None, 100),
        (3, 2, 1, 1.0, 100),
        (4, 0, 1, 2.0, 200),
        (5, 1, 0, 5.0, 300),
    ]
    assert report.metadata() | {"seconds": 0} == {
        "k": 2,
        "passes": 3,
        "input_interactions": 9,
        "interactions": 6,
        "users": 3,
        "items": 2,
        "density": 1.0,
        "seconds": 0,
    }


def test_an_input_that_already_is_a_k_core_needs_no_pass(con):
    raw_reviews(con, [("a", "x", 1.0, 1), ("b", "x", 1.0, 2)])

    report = build_interactions_5core(con, k=1)

    assert (report.passes, report.interactions, report.density) == (0, 2, 1.0)


def test_an_empty_k_core_raises_data_too_small(con):
    raw_reviews(con, [("a", "x", 1.0, 1), ("a", "y", 1.0, 2), ("b", "x", 1.0, 3)])

    with pytest.raises(DataTooSmallError, match=r"the 5-core of 3 reviews \(2 users, 2 items\) is empty: lower k"):
        build_interactions_5core(con, k=5)
