"""Hand-made evaluations: 4 test users (user 2 cold), 5 test rows, four variants, some over two seeds.

Full-ranking ranks are 0 (NDCG@10 = 1) or 100 (0), so per-user means are easy to work out:
rows belong to users [0, 0, 1, 2, 3]; user 0 has two rows, the others one.
"""

from __future__ import annotations

import numpy as np
import pytest

from hybridrec_ml.evaluation.protocols import EvalResult, PerUserResult
from hybridrec_ml.evaluation.variant_evaluation import VariantEvaluation

ROW_USER = np.array([0, 0, 1, 2, 3])
TRAIN_COUNT = np.array([5, 40, 0, 2])  # users 0..3; user 2 is cold
COLD_ITEM = np.array([False, True, False, False, False])
V1_SEED1, V1_SEED2 = (0.99, 0.006, 0.004), (0.97, 0.014, 0.016)  # mean (0.98, 0.01, 0.01)


def evaluation(
    variant: str,
    seed: int,
    full: list[int],
    alpha: tuple[float, float, float] | None = None,
    epochs: tuple[tuple[float, float, float], ...] = (),
    positions: list[int] | None = None,
) -> VariantEvaluation:
    """Sampled ranks equal the full ones; per user: user 0 has two positives (positions ascending), the others one."""
    ranks = np.array(full)
    row_alpha = None if alpha is None else np.tile(np.array(alpha, dtype=np.float32), (5, 1))
    return VariantEvaluation(
        variant=variant,
        seed=seed,
        mask="history",
        sampled=EvalResult("sampled", np.arange(1, 6), ranks, row_alpha),
        full=EvalResult("full", np.arange(1, 6), ranks, row_alpha),
        per_user=PerUserResult(
            np.arange(4), np.array([0, 2, 3, 4, 5]), np.array(positions or full), None if alpha is None else row_alpha[:4]
        ),
        row_user=ROW_USER,
        row_cold_item=COLD_ITEM,
        user_train_count=TRAIN_COUNT,
        context_alpha=None,
        alpha_per_epoch=epochs,
    )


@pytest.fixture
def evaluations() -> list[VariantEvaluation]:
    return [
        # per-user full NDCG@10: u0 0.5, u1 1, u2 0, u3 1 -> all 0.625, warm 0.8333
        evaluation("v1", 1, [0, 100, 0, 100, 0], V1_SEED1, ((0.5, 0.3, 0.2), V1_SEED1)),
        # u0 1, u1 1, u2 0, u3 1 -> all 0.75, warm 1
        evaluation("v1", 2, [0, 0, 0, 100, 0], V1_SEED2, ((0.7, 0.2, 0.1), V1_SEED2), positions=[0, 1, 0, 100, 0]),
        # u0 1, u1 0, u2 0, u3 0 -> all 0.25
        evaluation(
            "v2", 1, [0, 0, 100, 100, 100], (0.35, 0.33, 0.32), ((0.34, 0.33, 0.33),), positions=[0, 1, 100, 100, 100]
        ),
        # u0 0, u1 1, u2 1, u3 0 -> all 0.5, warm 1/3 (both seeds)
        evaluation("static_only", 1, [100, 100, 0, 0, 100], (1.0, 0.0, 0.0), ((1.0, 0.0, 0.0),)),
        evaluation("static_only", 2, [100, 100, 0, 0, 100], (1.0, 0.0, 0.0), ((1.0, 0.0, 0.0),)),
        # every user 1
        evaluation("pop", 1, [0, 0, 0, 0, 0], positions=[0, 1, 0, 0, 0]),
    ]
