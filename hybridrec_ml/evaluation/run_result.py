"""What one trained (variant, seed) contributes to the study's tables, gathered over variants and seeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hybridrec_ml.evaluation.protocols import EvalResult


@dataclass(frozen=True, eq=False)  # eq would compare numpy arrays elementwise
class VariantRunResult:
    """One trained (variant, seed): metric means, mean α, α per epoch and per-row NDCG@10 on the test rows."""

    variant: str
    seed: int
    sampled_metrics: dict[str, float]
    full_metrics: dict[str, float] | None
    alpha_mean: tuple[float, float, float] | None
    event_order: np.ndarray  # int64 [N] test rows, the alignment key of the per-row arrays
    sampled_ndcg_at_10: np.ndarray  # float64 [N]
    full_ndcg_at_10: np.ndarray | None  # float64 [N]
    alpha_per_epoch: tuple[tuple[float, float, float], ...] = ()  # mean α after each epoch
    segments: pd.DataFrame | None = None  # evaluation.segments.segment_report of the test rows

    @classmethod
    def from_evaluation(
        cls,
        variant: str,
        seed: int,
        sampled: EvalResult,
        full: EvalResult | None,
        alpha_per_epoch: Sequence[Sequence[float]] = (),
        segments: pd.DataFrame | None = None,
    ) -> VariantRunResult:
        if full is not None and not np.array_equal(sampled.event_order, full.event_order):
            raise ValueError("sampled and full-ranking results cover different test rows")
        return cls(
            variant=variant,
            seed=seed,
            sampled_metrics=dict(sampled.metrics),
            full_metrics=dict(full.metrics) if full is not None else None,
            alpha_mean=sampled.alpha_mean,
            event_order=sampled.event_order,
            sampled_ndcg_at_10=sampled.ndcg_at_10,
            full_ndcg_at_10=full.ndcg_at_10 if full is not None else None,
            alpha_per_epoch=tuple((float(s), float(d), float(c)) for s, d, c in alpha_per_epoch),
            segments=segments,
        )

    def ndcg_per_row(self, protocol: str) -> np.ndarray | None:
        return self.sampled_ndcg_at_10 if protocol == "sampled" else self.full_ndcg_at_10
