"""A writer SIGKILLed in the middle of a table rewrite or of an ingest leaves the previous tables, and nothing else.

Each writer runs in a spawned process and is killed at a point it announces by touching a file, so the kill
lands exactly there: inside the SELECT that fills a table (a Python UDF that blocks), or before a given
statement of the ingest (a connection that blocks before running it).
"""

import multiprocessing
import signal
import time
from pathlib import Path

import duckdb
import pytest

from hybridrec_ml.data.sources.amazon2018 import ingest_amazon2018
from hybridrec_ml.data.synthetic.generator import generate_synthetic
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import TableBuild, replace_table, replace_tables

OLD_USERS = "SELECT range::INTEGER, 'old_u' || range FROM range(4)"
OLD_ITEMS = "SELECT range::INTEGER, 'old_i' || range FROM range(6)"
NEW_USERS = "SELECT range::INTEGER, 'new_u' || range FROM range(3)"
# `block_after_signal` is registered by the killed writer: the rewrite is stuck inside this SELECT.
BLOCKED_NEW_ITEMS = "SELECT range::INTEGER, block_after_signal('new_i' || range) FROM range(2)"
RAW_TABLES = {schema.RAW_REVIEWS, schema.RAW_ITEMS, schema.QUARANTINE}


def _block(ready: str) -> None:
    Path(ready).touch()
    time.sleep(600)  # the parent kills this process long before


def _connect_with_blocking_udf(database: str, ready: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(database)

    def block_after_signal(value: str) -> str:
        _block(ready)
        return value

    con.create_function("block_after_signal", block_after_signal)
    return con


def _rewrite_item_index_blocked(database: str, ready: str) -> None:
    con = _connect_with_blocking_udf(database, ready)
    replace_table(con, schema.ITEM_INDEX, schema.ITEM_INDEX_COLUMNS, BLOCKED_NEW_ITEMS)


def _rewrite_both_indexes_blocked_on_the_second(database: str, ready: str) -> None:
    con = _connect_with_blocking_udf(database, ready)
    replace_tables(
        con,
        [
            TableBuild(schema.USER_INDEX, schema.USER_INDEX_COLUMNS, NEW_USERS),
            TableBuild(schema.ITEM_INDEX, schema.ITEM_INDEX_COLUMNS, BLOCKED_NEW_ITEMS),
        ],
    )


class _BlockingBefore:
    """A DuckDB connection that blocks before the first statement containing `marker` (the ingest's one seam)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, marker: str, ready: str):
        self._con, self._marker, self._ready = con, marker, ready

    def execute(self, sql: str, *args, **kwargs):
        if self._marker in sql:
            _block(self._ready)
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def _ingest_blocked_before(database: str, reviews: str, meta: str, marker: str, ready: str) -> None:
    ingest_amazon2018(_BlockingBefore(duckdb.connect(database), marker, ready), Path(reviews), Path(meta))


def _kill_when_blocked(target, *args: str, ready: Path, timeout: float = 120.0) -> None:
    """Run `target(*args, ready)` in a spawned process and SIGKILL it once it has touched `ready`."""
    process = multiprocessing.get_context("spawn").Process(target=target, args=(*args, str(ready)))
    process.start()
    deadline = time.monotonic() + timeout
    try:
        while not ready.exists():
            assert process.is_alive(), f"the writer exited ({process.exitcode}) before reaching the kill point"
            assert time.monotonic() < deadline, "the writer did not reach the kill point in time"
            time.sleep(0.05)
    finally:
        process.kill()
        process.join()
    assert process.exitcode == -signal.SIGKILL


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def _index_rows(database: Path) -> tuple[set[str], list[tuple], list[tuple]]:
    with duckdb.connect(str(database)) as con:  # read-write: replays (or discards) the killed writer's WAL
        return _tables(con), _rows(con, schema.USER_INDEX), _rows(con, schema.ITEM_INDEX)


@pytest.fixture
def indexes(tmp_path) -> Path:
    """A warehouse holding the old user_index (4 rows) and item_index (6 rows)."""
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as con:
        replace_table(con, schema.USER_INDEX, schema.USER_INDEX_COLUMNS, OLD_USERS)
        replace_table(con, schema.ITEM_INDEX, schema.ITEM_INDEX_COLUMNS, OLD_ITEMS)
    return database


OLD_USER_ROWS = [(i, f"old_u{i}") for i in range(4)]
OLD_ITEM_ROWS = [(i, f"old_i{i}") for i in range(6)]


def test_killed_rewrite_leaves_the_previous_table_and_no_staging_table(indexes, tmp_path):
    _kill_when_blocked(_rewrite_item_index_blocked, str(indexes), ready=tmp_path / "ready")

    tables, users, items = _index_rows(indexes)
    assert tables == {schema.USER_INDEX, schema.ITEM_INDEX}
    assert (users, items) == (OLD_USER_ROWS, OLD_ITEM_ROWS)


def test_killed_multi_table_rewrite_replaces_none_of_its_tables(indexes, tmp_path):
    """user_index was already built when item_index's SELECT was killed: it must not have been swapped in alone."""
    _kill_when_blocked(_rewrite_both_indexes_blocked_on_the_second, str(indexes), ready=tmp_path / "ready")

    tables, users, items = _index_rows(indexes)
    assert tables == {schema.USER_INDEX, schema.ITEM_INDEX}
    assert (users, items) == (OLD_USER_ROWS, OLD_ITEM_ROWS)


def test_failed_multi_table_rewrite_rolls_back_every_table(indexes):
    with duckdb.connect(str(indexes)) as con:
        with pytest.raises(duckdb.Error):
            replace_tables(
                con,
                [
                    TableBuild(schema.USER_INDEX, schema.USER_INDEX_COLUMNS, NEW_USERS),
                    TableBuild(schema.ITEM_INDEX, schema.ITEM_INDEX_COLUMNS, "SELECT NULL::INTEGER, 'no index'"),
                ],
            )
        assert _tables(con) == {schema.USER_INDEX, schema.ITEM_INDEX}
        assert (_rows(con, schema.USER_INDEX), _rows(con, schema.ITEM_INDEX)) == (OLD_USER_ROWS, OLD_ITEM_ROWS)


@pytest.mark.parametrize(
    "marker",
    [
        "amazon2018_item_lines",  # parsing the metadata file: the reviews are parsed, nothing is written yet
        f"RENAME TO {schema.QUARANTINE}",  # the last swap: raw_reviews and raw_items are already renamed
    ],
    ids=["while_parsing", "while_swapping"],
)
def test_killed_ingest_leaves_the_previous_raw_tables(tmp_path, marker):
    old = generate_synthetic("tiny", tmp_path / "old", seed=0)
    new = generate_synthetic("tiny", tmp_path / "new", seed=1)
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as con:
        ingest_amazon2018(con, old.reviews, old.meta)
        previous = {table: _rows(con, table) for table in RAW_TABLES}
    assert all(previous.values())

    _kill_when_blocked(
        _ingest_blocked_before, str(database), str(new.reviews), str(new.meta), marker, ready=tmp_path / "ready"
    )

    with duckdb.connect(str(database)) as con:
        assert _tables(con) == RAW_TABLES
        assert {table: _rows(con, table) for table in RAW_TABLES} == previous
        ingest_amazon2018(con, new.reviews, new.meta)  # the next run is not blocked by anything the killed one left
        assert _tables(con) == RAW_TABLES
        assert _rows(con, schema.RAW_REVIEWS) != previous[schema.RAW_REVIEWS]


def test_replace_table_swaps_in_new_rows(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    replace_table(con, schema.USER_INDEX, schema.USER_INDEX_COLUMNS, "SELECT range::INTEGER, range::VARCHAR FROM range(5)")
    assert replace_table(con, schema.USER_INDEX, schema.USER_INDEX_COLUMNS, "SELECT range::INTEGER, 'u' || range FROM range(3)") == 3
    assert con.execute("SELECT user_idx, user_id FROM user_index ORDER BY user_idx").fetchall() == [(0, "u0"), (1, "u1"), (2, "u2")]
