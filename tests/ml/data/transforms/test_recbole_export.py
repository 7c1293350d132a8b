"""export_recbole() on a hand-built warehouse: exact file contents."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from hybridrec_ml.data.transforms.recbole_export import export_recbole
from hybridrec_ml.data.warehouse import schema


def _table(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str], rows: list[tuple]) -> None:
    con.execute(f"CREATE TABLE {table} {schema.ddl(columns)}")
    placeholders = ", ".join("?" for _ in columns)
    con.executemany(f"INSERT INTO {table} VALUES ({placeholders})", rows)


@pytest.fixture
def warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _table(con, schema.USER_INDEX, schema.USER_INDEX_COLUMNS, [(0, "A1"), (1, "A2"), (2, "A3")])
    _table(con, schema.ITEM_INDEX, schema.ITEM_INDEX_COLUMNS, [(0, "B001"), (1, "B002"), (2, "B003")])
    _table(
        con,
        schema.INTERACTIONS_5CORE,
        schema.INTERACTIONS_5CORE_COLUMNS,
        [
            (0, 0, 0, 5.0, 1000),
            (1, 1, 0, 4.0, 1000),
            (2, 0, 1, 3.5, 2000),
            (3, 1, 2, 1.0, 3000),
            (4, 0, 2, 2.0, 4000),
            (5, 2, 1, 4.5, 5000),
        ],
    )
    _table(
        con,
        schema.TEMPORAL_SPLIT,
        schema.TEMPORAL_SPLIT_COLUMNS,
        [
            (0, 0, 0, 1000, "train", True, True),
            (1, 1, 0, 1000, "train", True, True),
            (2, 0, 1, 2000, "train", True, True),
            (3, 1, 2, 3000, "val", True, False),
            (4, 0, 2, 4000, "test", True, True),
            (5, 2, 1, 5000, "test", False, True),  # A3: a cold user (no training interaction)
        ],
    )
    _table(
        con,
        schema.RAW_ITEMS,
        schema.RAW_ITEMS_COLUMNS,
        [
            ("B001", "USB-C\tcable\n 2 m", None, None, "Electronics | Computers & Accessories", None, None, "m.gz", 1),
            ("B002", None, None, None, None, None, None, "m.gz", 2),
            ("B001", "a later duplicate", None, None, "Other", None, None, "m.gz", 3),
            ("B999", "not in the 5-core", None, None, "Electronics", None, None, "m.gz", 4),
        ],
    )
    return con


INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def test_export_writes_typed_tab_separated_files(warehouse: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    out = tmp_path / "recbole" / "electronics"

    files = export_recbole(warehouse, out, "electronics")
    paths = {suffix: file.path for suffix, file in files.items()}

    assert {suffix: file.rows for suffix, file in files.items()} == {
        "inter": 6, "item": 3, "train.inter": 3, "valid.inter": 1, "test.inter": 2,
    }  # fmt: skip
    assert paths == {
        "inter": out / "electronics.inter",
        "item": out / "electronics.item",
        "train.inter": out / "electronics.train.inter",
        "valid.inter": out / "electronics.valid.inter",
        "test.inter": out / "electronics.test.inter",
    }
    assert paths["inter"].read_text() == INTER_HEADER + (
        "A1\tB001\t5.0\t1000\n"
        "A2\tB001\t4.0\t1000\n"
        "A1\tB002\t3.5\t2000\n"
        "A2\tB003\t1.0\t3000\n"
        "A1\tB003\t2.0\t4000\n"
        "A3\tB002\t4.5\t5000\n"
    )
    assert paths["item"].read_text() == (
        "item_id:token\ttitle:token_seq\tcategories:token_seq\n"
        "B001\tUSB-C cable 2 m\tElectronics Computers_&_Accessories\n"
        "B002\t\t\n"
        "B003\t\t\n"
    )
    assert paths["train.inter"].read_text() == INTER_HEADER + (
        "A1\tB001\t5.0\t1000\n" "A2\tB001\t4.0\t1000\n" "A1\tB002\t3.5\t2000\n"
    )
    assert paths["valid.inter"].read_text() == INTER_HEADER + "A2\tB003\t1.0\t3000\n"
    # every test user, the cold one included: the users evaluate_per_user scores
    assert paths["test.inter"].read_text() == INTER_HEADER + "A1\tB003\t2.0\t4000\n" "A3\tB002\t4.5\t5000\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())


def test_warm_export_drops_only_cold_users_evaluation_rows(warehouse: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    all_users = {suffix: f.path.read_text() for suffix, f in export_recbole(warehouse, tmp_path / "all", "ml").items()}

    warm = {suffix: f.path.read_text() for suffix, f in export_recbole(warehouse, tmp_path / "warm", "ml", "warm").items()}

    assert warm["test.inter"] == INTER_HEADER + "A1\tB003\t2.0\t4000\n"
    assert {suffix: warm[suffix] for suffix in ("inter", "item", "train.inter", "valid.inter")} == {
        suffix: all_users[suffix] for suffix in ("inter", "item", "train.inter", "valid.inter")
    }  # the catalogue (.item) and the training data are the same


def test_export_replaces_previous_files(warehouse: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    (tmp_path / "ml.inter").write_text("stale\n")

    export_recbole(warehouse, tmp_path, "ml")

    assert (tmp_path / "ml.inter").read_text().startswith(INTER_HEADER + "A1\tB001\t5.0\t1000\n")


def test_dataset_name_must_be_a_plain_file_name(warehouse: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dataset name '../x'"):
        export_recbole(warehouse, tmp_path, "../x")
    with pytest.raises(ValueError, match="users must be 'all' or 'warm', got 'cold'"):
        export_recbole(warehouse, tmp_path, "ml", "cold")
