"""Atomic table replacement in DuckDB: an interrupted rewrite leaves the previous tables intact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from hybridrec_ml.data.warehouse import schema


def _known(table: str) -> str:
    """Table names come from `schema` constants only; refuse anything else before it reaches SQL."""
    known = {value for name, value in vars(schema).items() if name.isupper() and isinstance(value, str)}
    if table not in known:
        raise ValueError(f"unknown table name {table!r}; tables are declared in hybridrec_ml.data.warehouse.schema")
    return table


@dataclass(frozen=True)
class TableBuild:
    """One table to rebuild: `select_sql` must yield `columns` in order."""

    table: str
    columns: dict[str, str]
    select_sql: str
    params: Sequence[Any] = ()


def replace_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: dict[str, str],
    select_sql: str,
    params: Sequence[Any] | None = None,
) -> int:
    """Build `table` from `select_sql` (which must yield `columns` in order) and swap it in atomically.

    Returns the number of rows written.
    """
    (rows,) = replace_tables(con, [TableBuild(table, columns, select_sql, params or ())])
    return rows


def replace_tables(con: duckdb.DuckDBPyConnection, builds: Sequence[TableBuild]) -> list[int]:
    """Build every table into a staging table, then swap them all in; returns the rows written per table.

    Everything runs in one transaction, so a failure or a killed process at any point leaves every table
    at its previous version and no staging table behind; tables that belong together (raw_reviews,
    raw_items, quarantine) never mix versions. Each SELECT still sees the previous versions.
    """
    staged = [(build, f"{_known(build.table)}__staging") for build in builds]
    con.execute("BEGIN TRANSACTION")
    try:
        rows = []
        for build, staging in staged:
            con.execute(f"DROP TABLE IF EXISTS {staging}")  # committed by an interrupted run of an older version
            con.execute(f"CREATE TABLE {staging} {schema.ddl(build.columns)}")
            con.execute(
                f"INSERT INTO {staging} ({schema.column_list(build.columns)}) {build.select_sql}", list(build.params)
            )
            rows.append(int(con.execute(f"SELECT count(*) FROM {staging}").fetchall()[0][0]))
        for build, staging in staged:
            con.execute(f"DROP TABLE IF EXISTS {build.table}")
            con.execute(f"ALTER TABLE {staging} RENAME TO {build.table}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rows


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [_known(table)]
    ).fetchall()
    return rows[0][0] > 0
