import duckdb
import torch

from hybridrec_ml.data import schema
from hybridrec_ml.data.batching import gather_padded
from hybridrec_ml.data.bundle import SparseRows
from hybridrec_ml.data.warehouse import replace_table


def test_replace_table_swaps_in_new_rows(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    replace_table(con, schema.USER_INDEX, schema.USER_INDEX_COLUMNS, "SELECT range::INTEGER, range::VARCHAR FROM range(5)")
    assert replace_table(con, schema.USER_INDEX, schema.USER_INDEX_COLUMNS, "SELECT range::INTEGER, 'u' || range FROM range(3)") == 3
    assert con.execute("SELECT user_idx, user_id FROM user_index ORDER BY user_idx").fetchall() == [(0, "u0"), (1, "u1"), (2, "u2")]


def test_gather_padded_keeps_the_last_entries_shifted_by_one():
    rows = SparseRows(torch.tensor([0, 0, 3, 5]), torch.tensor([7, 8, 9, 1, 2]), None, 10)
    padded, lengths = gather_padded(rows, torch.tensor([0, 1, 2]), 2)
    assert padded.tolist() == [[0, 0], [9, 10], [2, 3]]
    assert lengths.tolist() == [0, 2, 2]
