"""A real DuckDB file per test: the transforms under test run the same SQL as the assets."""

import duckdb
import pytest


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()
