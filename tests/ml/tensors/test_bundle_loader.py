import duckdb
import pytest
import torch

from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.tensors.bundle_loader import load_evaluation_rows, load_training_bundle

# (event_order, user_idx, item_idx, split, user_in_train, item_in_train, prev_items)
INTERACTIONS = [
    (0, 0, 0, "train", True, True, []),
    (1, 1, 1, "train", True, True, []),
    (2, 0, 2, "train", True, True, [0]),
    (3, 0, 1, "train", True, True, [0, 2]),
    (4, 1, 0, "train", True, True, [1]),
    (5, 0, 3, "val", True, False, [0, 2, 1]),
    (6, 2, 1, "val", False, True, []),  # user 2 has no training row: evaluated all the same (cold)
    (7, 1, 2, "test", True, True, [1, 0]),
    (8, 0, 0, "test", True, True, [0, 2, 1, 3]),
]
# (item_idx, term_idx, weight), deliberately not in (item, term) order
TFIDF = [(3, 1, 0.75), (0, 2, 0.5), (2, 1, 1.0), (0, 0, 0.5), (3, 0, 0.25)]


def write_tables(con: duckdb.DuckDBPyConnection) -> None:
    tables = {
        schema.TEMPORAL_SPLIT: (
            schema.TEMPORAL_SPLIT_COLUMNS,
            [(e, u, i, 1000 + e * e, s, ut, it) for e, u, i, s, ut, it, _ in INTERACTIONS],  # ts: gaps differ
        ),
        schema.USER_SEQUENCES: (schema.USER_SEQUENCES_COLUMNS, [(e, prev) for e, *_, prev in reversed(INTERACTIONS)]),
        # hour_sin carries the event_order so the test can see that rows stay aligned
        schema.CONTEXT_FEATURES: (
            schema.CONTEXT_FEATURES_COLUMNS,
            [(e, e / 10, 1.0, 0.0, -1.0, float(e % 2)) for e, *_ in INTERACTIONS],
        ),
        schema.ITEM_TFIDF: (schema.ITEM_TFIDF_COLUMNS, TFIDF),
        schema.TFIDF_VOCABULARY: (
            schema.TFIDF_VOCABULARY_COLUMNS,
            [(0, "cable", 1.1), (1, "usb", 1.2), (2, "hdmi", 1.3)],
        ),
        schema.USER_INDEX: (schema.USER_INDEX_COLUMNS, [(0, "u0"), (1, "u1"), (2, "u2")]),
        schema.ITEM_INDEX: (schema.ITEM_INDEX_COLUMNS, [(0, "i0"), (1, "i1"), (2, "i2"), (3, "i3")]),
    }
    for table, (columns, rows) in tables.items():
        con.execute(f"CREATE TABLE {table} {schema.ddl(columns)}")
        placeholders = ", ".join("?" for _ in columns)
        con.executemany(f"INSERT INTO {table} VALUES ({placeholders})", rows)


@pytest.fixture
def warehouse_path(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        write_tables(con)
    return path


def test_load_training_bundle_builds_the_csr_tensors(warehouse_path):
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        bundle = load_training_bundle(con, max_history=2)

    assert (bundle.n_users, bundle.n_items) == (3, 4)
    train, val, test = bundle.train, bundle.val, bundle.test
    assert train.event_order.tolist() == [0, 1, 2, 3, 4]
    assert train.user.tolist() == [0, 1, 0, 0, 1]
    assert train.item.tolist() == [0, 1, 2, 1, 0]
    assert train.history.ptr.tolist() == [0, 0, 0, 1, 3, 4]
    assert train.history.index.tolist() == [0, 0, 2, 1]
    assert train.context[:, 0].tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert train.context[1].tolist() == pytest.approx([0.1, 1.0, 0.0, -1.0, 1.0])

    assert val.event_order.tolist() == [5, 6]  # row 6's user has no training row: kept (cold user)
    assert (val.user.tolist(), val.item.tolist()) == ([0, 2], [3, 1])
    assert val.history.ptr.tolist() == [0, 2, 2]
    assert val.history.index.tolist() == [2, 1]  # the last 2 of [0, 2, 1]; user 2 has none

    assert test.event_order.tolist() == [7, 8]
    assert test.history.ptr.tolist() == [0, 2, 4]
    assert test.history.index.tolist() == [1, 0, 1, 3]
    assert test.context[:, 0].tolist() == pytest.approx([0.7, 0.8])
    # seconds since the user's previous interaction in any split (ts = 1000 + e²), -1 for a first one:
    # user 0 at e = 0, 2, 3, 5, 8; user 1 at 1, 4, 7; user 2 only at 6
    assert train.since_previous.tolist() == [-1, -1, 4, 5, 15]
    assert val.since_previous.tolist() == [16, -1]
    assert test.since_previous.tolist() == [33, 39]

    assert bundle.tfidf.n_cols == 3
    assert bundle.tfidf.ptr.tolist() == [0, 2, 2, 3, 5]
    assert bundle.tfidf.index.tolist() == [0, 2, 1, 0, 1]
    assert bundle.tfidf.weight.tolist() == [0.5, 0.5, 1.0, 0.25, 0.75]

    assert bundle.train_items_by_user.ptr.tolist() == [0, 3, 5, 5]
    assert bundle.train_items_by_user.index.tolist() == [0, 1, 2, 0, 1]
    assert bundle.user_train_count.tolist() == [3, 2, 0]
    # every split, grouped by user in event order
    assert bundle.timeline.ptr.tolist() == [0, 5, 8, 9]
    assert bundle.timeline.item.tolist() == [0, 2, 1, 3, 0, 1, 0, 2, 1]
    assert bundle.timeline.event_order.tolist() == [0, 2, 3, 5, 8, 1, 4, 7, 6]
    assert bundle.timeline.count_before(torch.tensor([0, 0, 1, 2]), torch.tensor([8, 9, 7, 6])).tolist() == [4, 5, 2, 0]
    assert bundle.item_train_count.tolist() == [2, 2, 1, 0]
    for split in (train, val, test):
        assert split.user.dtype == split.item.dtype == split.history.index.dtype == torch.int64
        assert split.context.dtype == torch.float32


def test_load_evaluation_rows_reads_the_bundles_val_then_test_rows(warehouse_path):
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        bundle = load_training_bundle(con)
        rows = load_evaluation_rows(con)

    assert rows.n_items == bundle.n_items
    for name in ("event_order", "user", "item"):
        expected = torch.cat([getattr(bundle.val, name), getattr(bundle.test, name)])
        assert torch.equal(getattr(rows, name), expected), name
    assert rows.event_order.tolist() == [5, 6, 7, 8]
    assert torch.equal(rows.train_items_by_user.ptr, bundle.train_items_by_user.ptr)
    assert torch.equal(rows.train_items_by_user.index, bundle.train_items_by_user.index)
    # every item each user ever had, distinct and ascending
    assert rows.items_by_user.ptr.tolist() == [0, 4, 7, 8]
    assert rows.items_by_user.index.tolist() == [0, 1, 2, 3, 0, 1, 2, 1]


def test_load_training_bundle_refuses_rows_without_features(warehouse_path):
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute(f"DELETE FROM {schema.CONTEXT_FEATURES} WHERE event_order = 7")
        with pytest.raises(ValueError, match="test: 2 rows"):
            load_training_bundle(con)
