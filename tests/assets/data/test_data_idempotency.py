"""Re-materializing the data assets over their own output, with the same resources, rewrites identical tables."""

import duckdb
from dagster import AssetSelection

from hybridrec_ml.data.warehouse import schema
from tests.assets.conftest import make_env

# Every table the data group writes: all the names declared in `schema`.
DATA_TABLES = {value for name, value in vars(schema).items() if name.isupper() and isinstance(value, str)}


def _contents(database: str) -> dict[str, list[tuple]]:
    """Every table in the warehouse, as its rows in a canonical order."""
    with duckdb.connect(database, read_only=True) as con:
        tables = [name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in tables}


def test_rematerializing_the_data_group_rewrites_identical_tables(tmp_path):
    env = make_env(tmp_path)
    database = env.resources["warehouse"].database

    assert env.materialize(AssetSelection.groups("data")).success
    first = _contents(database)
    assert env.materialize(AssetSelection.groups("data")).success
    second = _contents(database)

    assert set(first) == DATA_TABLES
    assert [table for table, rows in first.items() if not rows] == []
    assert set(second) == set(first)
    for table in sorted(first):
        assert second[table] == first[table], f"{table} differs after re-materializing"
