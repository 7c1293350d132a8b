"""`hybridrec_ml.data_layer`, what benches and tests build without Dagster, equals the data asset group."""

import duckdb

from hybridrec_ml.data.sources.registry import SyntheticOptions
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data_layer import synthetic_warehouse

TABLES = (
    schema.USER_INDEX, schema.ITEM_INDEX, schema.INTERACTIONS_5CORE, schema.TEMPORAL_SPLIT, schema.SPLIT_BOUNDARIES,
    schema.USER_SEQUENCES, schema.CONTEXT_FEATURES, schema.ITEM_TFIDF, schema.TFIDF_VOCABULARY, schema.EVAL_NEGATIVES,
)  # fmt: skip


def test_the_library_call_builds_the_tables_the_data_assets_build(tiny_data, tmp_path):
    database = synthetic_warehouse(tmp_path / "world", SyntheticOptions(scale="tiny"))
    with duckdb.connect(str(database), read_only=True) as con:
        con.execute(f"ATTACH '{tiny_data}' AS assets (READ_ONLY)")
        for table in TABLES:
            rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            differing = con.execute(
                f"SELECT count(*) FROM ((FROM {table} EXCEPT ALL FROM assets.{table}) "
                f"UNION ALL (FROM assets.{table} EXCEPT ALL FROM {table}))"
            ).fetchone()[0]
            assert (table, rows > 0, differing) == (table, True, 0)


def test_a_finished_warehouse_is_reused_and_an_interrupted_one_is_rebuilt(tmp_path):
    folder = tmp_path / "world"
    folder.mkdir()
    (folder / "warehouse.partial.duckdb").write_bytes(b"left by a killed build")
    database = synthetic_warehouse(folder, SyntheticOptions(scale="tiny"))
    assert sorted(path.name for path in folder.glob("warehouse*")) == ["warehouse.duckdb"]
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE TABLE marker AS SELECT 1 AS x")
    assert synthetic_warehouse(folder, SyntheticOptions(scale="tiny")) == database
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT x FROM marker").fetchone() == (1,)
