"""The full-size evaluation path at `tiny` size: tiny scoring blocks give exactly the ranks of one block.

At `full` size evaluation must score in blocks (1M test rows x 160K items never fit at once); here
the same code runs with blocks of 8 rows x 16 items (88 test rows: eleven row blocks; 150 items:
nine full item blocks and a partial one), through real materializations, so every block boundary (rows, catalogue items, masked
training items) is crossed many times.
"""

import numpy as np
import pytest
from dagster import AssetSelection

from hybridrec_assets.artifacts import evaluation_path
from hybridrec_assets.partitions import run_partition_key
from hybridrec_ml.evaluation.variant_evaluation import load_evaluation
from hybridrec_ml.models import hybrid

TRAIN = AssetSelection.assets("trained_model")
EVALUATE = AssetSelection.assets("evaluation")
WHOLE = 10**9  # one block holds every row and every item of `tiny`


def _evaluation_config(batch_size: int, row_chunk: int, item_chunk: int) -> dict:
    chunks = {"batch_size": batch_size, "row_chunk": row_chunk, "item_chunk": item_chunk}
    return {"ops": {"evaluation": {"config": chunks}}}


@pytest.mark.parametrize("variant", ["v1", "bpr_mf"])
def test_tiny_blocks_give_exactly_the_ranks_and_alpha_of_one_block(env_with_data, variant, monkeypatch):
    key = str(run_partition_key(variant, 42))
    trained = env_with_data.materialize(TRAIN, key, {"ops": {"trained_model": {"config": {"epochs": 1, "torch_threads": 1}}}})
    assert trained.success
    stored = env_with_data.root / "artifacts" / "/".join(evaluation_path(variant, 42))

    with monkeypatch.context() as tiny:
        # the hybrid scores a row block against the catalogue in item blocks of its own: 16 items here
        tiny.setitem(hybrid.CATALOGUE_BLOCK_PAIRS, "cpu", 8 * 16)
        assert env_with_data.materialize(EVALUATE, key, _evaluation_config(8, 8, 16)).success
    chunked = load_evaluation(stored)
    assert env_with_data.materialize(EVALUATE, key, _evaluation_config(WHOLE, WHOLE, WHOLE)).success
    whole = load_evaluation(stored)

    assert len(whole.full.ranks) > 10 * 8 and int(whole.full.ranks.max()) > 4 * 16  # many blocks of each kind
    for protocol in ("sampled", "full"):
        a, b = getattr(chunked, protocol), getattr(whole, protocol)
        assert np.array_equal(a.event_order, b.event_order)
        assert np.array_equal(a.ranks, b.ranks), protocol
        assert a.metrics == b.metrics
        assert (a.alpha is None) == (b.alpha is None) == (variant == "bpr_mf")
        if a.alpha is not None:
            # the gate's matrix products over 8 rows and over all rows may round the last bit differently
            np.testing.assert_allclose(a.alpha, b.alpha, rtol=0, atol=1e-6)
    assert np.array_equal(chunked.per_user.positions, whole.per_user.positions)
    assert chunked.per_user.metrics == whole.per_user.metrics
    rank_columns = [column for column in whole.users if not column.startswith("alpha")]
    assert chunked.users[rank_columns].equals(whole.users[rank_columns])
