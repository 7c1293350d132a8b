import numpy as np
import pytest

from hybridrec_ml.evaluation.protocols import EvalResult
from hybridrec_ml.evaluation.run_result import VariantRunResult


def test_from_evaluation_keeps_per_row_ndcg_and_alpha():
    sampled = EvalResult("sampled", np.array([7, 8]), np.array([0, 1]), np.array([[1.0, 0, 0], [0.5, 0.5, 0]]))
    full = EvalResult("full", np.array([7, 8]), np.array([2, 30]), sampled.alpha)
    run = VariantRunResult.from_evaluation("v1", 3, sampled, full, alpha_per_epoch=[[0.5, 0.25, 0.25]])
    assert run.alpha_mean == pytest.approx((0.75, 0.25, 0.0))
    assert run.sampled_metrics["recall@5"] == 1.0 and run.full_metrics["recall@5"] == 0.5
    np.testing.assert_allclose(run.full_ndcg_at_10, [0.5, 0.0])
    assert run.alpha_per_epoch == ((0.5, 0.25, 0.25),)
    with pytest.raises(ValueError, match="different test rows"):
        VariantRunResult.from_evaluation("v1", 3, sampled, EvalResult("full", np.array([7, 9]), full.ranks, None))
