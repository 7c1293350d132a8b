"""Atomic table replacement in DuckDB: an interrupted rewrite leaves the previous table intact."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from hybridrec_ml.data import schema


def _known(table: str) -> str:
    """Table names come from `schema` constants only; refuse anything else before it reaches SQL."""
    known = {value for name, value in vars(schema).items() if name.isupper() and isinstance(value, str)}
    if table not in known:
        raise ValueError(f"unknown table name {table!r}; tables are declared in hybridrec_ml.data.schema")
    return table


def replace_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: dict[str, str],
    select_sql: str,
    params: Sequence[Any] | None = None,
) -> int:
    """Build `table` from `select_sql` (which must yield `columns` in order) and swap it in atomically.

    The new rows go to a staging table first; the old table is dropped and the staging table renamed
    inside one transaction, so readers see either the old or the new version, never a partial one.
    Returns the number of rows written.
    """
    table = _known(table)
    staging = f"{table}__staging"
    con.execute(f"DROP TABLE IF EXISTS {staging}")
    con.execute(f"CREATE TABLE {staging} {schema.ddl(columns)}")
    con.execute(f"INSERT INTO {staging} ({schema.column_list(columns)}) {select_sql}", params or [])
    rows = con.execute(f"SELECT count(*) FROM {staging}").fetchall()[0][0]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"ALTER TABLE {staging} RENAME TO {table}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(rows)


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [_known(table)]
    ).fetchall()
    return rows[0][0] > 0
