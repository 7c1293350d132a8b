"""Each test row's effective shares in full ranking: α × the catalogue spread, normalised (contributions' formula)."""

from dataclasses import replace

import numpy as np
import pytest

from hybridrec_ml.evaluation.protocols import EvalResult
from hybridrec_ml.evaluation.variant_evaluation import full_ranking_shares, load_evaluation, save_evaluation
from tests.ml.reporting.conftest import evaluation

ALPHA = np.array([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [1.0, 0.0, 0.0]], dtype=np.float32)
SPREAD = np.array([[1.0, 2.0, 0.0], [4.0, 1.0, 0.5], [0.0, 0.0, 0.0]], dtype=np.float32)
# row 0: α × spread = 0.5, 0.6, 0 -> / 1.1; row 1: 0.8, 0.2, 0.3 -> / 1.3; row 2: nothing spreads -> 0
SHARES = [[0.5 / 1.1, 0.6 / 1.1, 0.0], [0.8 / 1.3, 0.2 / 1.3, 0.3 / 1.3], [0.0, 0.0, 0.0]]


def test_a_rows_effective_shares_weigh_alpha_by_the_catalogue_spread():
    full = EvalResult("full", np.arange(3), np.zeros(3, dtype=np.int64), ALPHA, SPREAD)
    np.testing.assert_allclose(full_ranking_shares(full), SHARES, rtol=1e-6)
    assert full_ranking_shares(replace(full, component_spread=None)) is None  # not measured
    assert full_ranking_shares(replace(full, alpha=None)) is None  # nothing fused


def test_the_stored_evaluation_keeps_the_spreads_and_reports_the_mean_shares(tmp_path):
    spread = np.tile(np.array([[1.0, 2.0, 4.0]], dtype=np.float32), (5, 1))
    v1 = evaluation("v1", 1, [0, 100, 0, 100, 0], (0.5, 0.25, 0.25))
    v1 = replace(v1, full=replace(v1.full, component_spread=spread))
    loaded = load_evaluation(save_evaluation(v1, tmp_path / "v1.npz"))
    np.testing.assert_array_equal(loaded.full.component_spread, spread)
    # α × spread = 0.5, 0.5, 1.0 on every row -> shares 0.25, 0.25, 0.5
    np.testing.assert_allclose(loaded.effective_share, [[0.25, 0.25, 0.5]] * 5)
    metadata = loaded.metadata()
    assert [metadata[f"test_effective_share_{c}"] for c in ("static", "dynamic", "content")] == pytest.approx([0.25, 0.25, 0.5])
    pop = load_evaluation(save_evaluation(evaluation("pop", 1, [0, 0, 0, 0, 0]), tmp_path / "pop.npz"))
    assert pop.full.component_spread is None and pop.effective_share is None
    assert "test_effective_share_static" not in pop.metadata()
