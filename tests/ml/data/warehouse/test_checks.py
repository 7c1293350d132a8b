import duckdb

from hybridrec_ml.data.transforms.context import build_context_features
from hybridrec_ml.data.transforms.interactions import build_interactions_5core
from hybridrec_ml.data.transforms.sequences import build_user_sequences
from hybridrec_ml.data.transforms.split import build_temporal_split
from hybridrec_ml.data.transforms.tfidf import build_item_tfidf
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.checks import (
    CheckOutcome,
    check_context_not_constant,
    check_indices_consistent,
    check_k_core,
    check_no_time_leakage,
    check_sequences_causal,
)

DAY = 86400


def build_warehouse(con: duckdb.DuckDBPyConnection, seconds_into_day: int = 0) -> None:
    """4 users x 3 items, every pair once, on days 10..21 (ordered by item, then user), through every step.

    12 events: train = 0..7, val = 8..9, test = 10..11.
    """
    con.execute(f"CREATE TABLE {schema.RAW_REVIEWS} {schema.ddl(schema.RAW_REVIEWS_COLUMNS)}")
    con.executemany(
        f"INSERT INTO {schema.RAW_REVIEWS} VALUES (?, ?, 5.0, ?, NULL, NULL, 'r.json.gz', ?)",
        [
            (f"u{u}", f"i{i}", DAY * (10 + u + 4 * i) + seconds_into_day * u, 1 + u + 4 * i)
            for u in range(4)
            for i in range(3)
        ],
    )
    con.execute(f"CREATE TABLE {schema.RAW_ITEMS} {schema.ddl(schema.RAW_ITEMS_COLUMNS)}")
    con.executemany(
        f"INSERT INTO {schema.RAW_ITEMS} VALUES (?, ?, NULL, NULL, NULL, NULL, NULL, 'm.json.gz', ?)",
        [("i0", "usb cable", 1), ("i1", "usb charger", 2), ("i2", "speaker", 3)],
    )
    build_interactions_5core(con, k=2)
    build_temporal_split(con)
    build_user_sequences(con, max_len=2)
    build_context_features(con)
    build_item_tfidf(con)


def test_all_checks_pass_on_a_consistent_warehouse(con):
    build_warehouse(con, seconds_into_day=3600)

    assert check_k_core(con, k=3) == CheckOutcome(
        True,
        "ERROR",
        "every user and item has >= 3 interactions",
        {"k": 3, "users_below_k": 0, "items_below_k": 0, "min_user_interactions": 3, "min_item_interactions": 4},
    )
    assert check_no_time_leakage(con) == CheckOutcome(
        True,
        "ERROR",
        "val and test come strictly after train, test after val",
        {
            "rows_before_train_end": 0,
            "test_rows_before_val_end": 0,
            "boundary_mismatches": 0,
            "train_last_ts": DAY * 17 + 3600 * 3,  # event 7 = (u3, i1)
            "val_last_ts": DAY * 19 + 3600,  # event 9 = (u1, i2)
        },
    )
    indices = check_indices_consistent(con)
    assert (indices.passed, indices.severity, indices.description) == (
        True, "ERROR", "14 cross-table id probes found nothing wrong"
    )
    assert set(indices.metadata.values()) == {14, 0}
    assert check_sequences_causal(con) == CheckOutcome(
        True,
        "ERROR",
        "all 12 histories are the user's preceding items in order",
        {"rows": 12, "rows_without_history": 0, "wrong_histories": 0, "first_wrong_event_order": -1, "longest_history": 2},
    )
    assert check_context_not_constant(con) == CheckOutcome(
        True, "WARN", "every context feature varies", {"constant_features": "none", "n_constant_features": 0}
    )


def test_k_core_check_counts_users_and_items_below_k(con):
    build_warehouse(con)
    con.execute("DELETE FROM interactions_5core WHERE event_order = 0").fetchall()  # (u0, i0)

    outcome = check_k_core(con, k=3)

    assert (outcome.passed, outcome.description) == (False, "1 users and 0 items have fewer than 3 interactions")
    assert outcome.metadata["min_user_interactions"] == 2


def test_leakage_check_catches_a_val_row_before_the_end_of_train(con):
    build_warehouse(con)
    con.execute("UPDATE temporal_split SET ts = 0 WHERE event_order = 9").fetchall()

    outcome = check_no_time_leakage(con)

    assert outcome.passed is False
    assert outcome.metadata | {"train_last_ts": 0, "val_last_ts": 0} == {
        "rows_before_train_end": 1,
        "test_rows_before_val_end": 0,
        "boundary_mismatches": 0,
        "train_last_ts": 0,
        "val_last_ts": 0,
    }


def test_leakage_check_catches_boundaries_that_disagree_with_the_split(con):
    build_warehouse(con)
    con.execute("UPDATE split_boundaries SET first_event_order = 9 WHERE split = 'val'").fetchall()

    assert check_no_time_leakage(con).metadata["boundary_mismatches"] == 1


def test_index_check_names_each_broken_reference(con):
    build_warehouse(con)
    con.execute("UPDATE interactions_5core SET item_idx = 99 WHERE event_order = 0").fetchall()
    con.execute("UPDATE user_sequences SET prev_items = [-1] WHERE event_order = 5").fetchall()
    con.execute("INSERT INTO item_index VALUES (3, 'i0')").fetchall()  # dense, but a repeated id
    con.execute("DELETE FROM context_features WHERE event_order = 11").fetchall()

    outcome = check_indices_consistent(con)

    assert outcome.passed is False
    assert outcome.description == (
        "item_index_not_dense: 1; interactions_5core_unknown_item_idx: 1; user_sequences_unknown_item_idx: 1; "
        "context_features_event_order_mismatch: 1; temporal_split_disagrees_with_interactions: 1"
    )


def test_index_check_skips_tables_not_built_yet(con):
    build_warehouse(con)
    for table in (schema.ITEM_TFIDF, schema.TFIDF_VOCABULARY, schema.USER_SEQUENCES, schema.CONTEXT_FEATURES):
        con.execute(f"DROP TABLE {table}").fetchall()

    assert check_indices_consistent(con).metadata["probes"] == 8


def test_causality_check_catches_a_history_holding_its_target(con):
    build_warehouse(con)
    # event 4 = (u0, i1): the user's only earlier item is i0 (idx 0); put the target i1 in instead.
    con.execute("UPDATE user_sequences SET prev_items = [1] WHERE event_order = 4").fetchall()

    outcome = check_sequences_causal(con)

    assert (outcome.passed, outcome.metadata["wrong_histories"], outcome.metadata["first_wrong_event_order"]) == (
        False, 1, 4
    )


def test_causality_check_catches_a_history_that_skips_the_latest_item(con):
    build_warehouse(con)
    # event 8 = (u0, i2): earlier items i0, i1; [0] alone leaves out the most recent one.
    con.execute("UPDATE user_sequences SET prev_items = [0] WHERE event_order = 8").fetchall()

    assert check_sequences_causal(con).metadata["wrong_histories"] == 1


def test_context_check_warns_on_day_granular_timestamps(con):
    build_warehouse(con)

    assert check_context_not_constant(con) == CheckOutcome(
        False,
        "WARN",
        "constant context features (no signal for the gate): hour_sin, hour_cos",
        {"constant_features": "hour_sin, hour_cos", "n_constant_features": 2},
    )
