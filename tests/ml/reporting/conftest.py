"""Hand-made results of three variants, two of them over two seeds."""

from __future__ import annotations

import numpy as np
import pytest

from hybridrec_ml.evaluation.run_result import VariantRunResult

EVENT_ORDER = np.array([1, 2, 3, 4, 5])
V1_SEED1, V1_SEED2 = (0.99, 0.006, 0.004), (0.97, 0.014, 0.016)  # mean (0.98, 0.01, 0.01)


def run(
    variant: str,
    seed: int,
    sampled: tuple[float, float],
    full: tuple[float, float] | None,
    alpha: tuple[float, float, float] | None,
    per_row: list[float],
    epochs: tuple[tuple[float, float, float], ...] = (),
) -> VariantRunResult:
    return VariantRunResult(
        variant=variant,
        seed=seed,
        sampled_metrics={"ndcg@10": sampled[0], "recall@10": sampled[1]},
        full_metrics=None if full is None else {"ndcg@10": full[0], "recall@10": full[1]},
        alpha_mean=alpha,
        event_order=EVENT_ORDER,
        sampled_ndcg_at_10=np.array(per_row),
        full_ndcg_at_10=None,
        alpha_per_epoch=epochs,
    )


@pytest.fixture
def runs() -> list[VariantRunResult]:
    return [
        run("v1", 1, (0.30, 0.40), (0.10, 0.20), V1_SEED1, [1, 0, 0.5, 0, 0.3], ((0.5, 0.3, 0.2), V1_SEED1)),
        run("v1", 2, (0.32, 0.44), (0.12, 0.22), V1_SEED2, [1, 0, 0.5, 0.2, 0.3], ((0.7, 0.2, 0.1), V1_SEED2)),
        run("v2", 1, (0.27, 0.41), None, (0.35, 0.33, 0.32), [0.5, 0, 0.5, 0.1, 0], ((0.34, 0.33, 0.33),)),
        run("static_only", 1, (0.33, 0.45), (0.11, 0.21), None, [1, 0.5, 0.5, 0, 0.3]),
        run("static_only", 2, (0.31, 0.43), (0.13, 0.23), None, [1, 0.5, 0.5, 0.2, 0.3]),
    ]
