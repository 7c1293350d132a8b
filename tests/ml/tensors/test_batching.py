import torch

from hybridrec_ml.tensors.batching import gather_padded
from hybridrec_ml.tensors.bundle import SparseRows


def test_gather_padded_keeps_the_last_entries_shifted_by_one():
    rows = SparseRows(torch.tensor([0, 0, 3, 5]), torch.tensor([7, 8, 9, 1, 2]), None, 10)
    padded, lengths = gather_padded(rows, torch.tensor([0, 1, 2]), 2)
    assert padded.tolist() == [[0, 0], [9, 10], [2, 3]]
    assert lengths.tolist() == [0, 2, 2]
