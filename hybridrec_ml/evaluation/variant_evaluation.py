"""Evaluate one trained (variant, seed) on the test split, and store / reload the outcome as one file.

The stored file keeps per-interaction ranks and α, so reports (paired tests, segments, context
buckets) are recomputed from it without re-scoring anything.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.data.bundle import TrainingBundle
from hybridrec_ml.evaluation.protocols import EvalResult, evaluate_full, evaluate_sampled
from hybridrec_ml.evaluation.segments import DEFAULT_SEGMENT_BOUNDS, alpha_by_context_bucket, segment_report
from hybridrec_ml.models.base import Recommender
from hybridrec_ml.reporting.tables import VariantRunResult


@dataclass(frozen=True, eq=False)
class VariantEvaluation:
    variant: str
    seed: int
    sampled: EvalResult
    full: EvalResult
    segments: pd.DataFrame  # segment_report of the full-ranking protocol
    context_alpha: pd.DataFrame | None  # mean α per context bucket; None without a gate
    alpha_per_epoch: tuple[tuple[float, float, float], ...]

    def run_result(self) -> VariantRunResult:
        return VariantRunResult.from_evaluation(
            self.variant, self.seed, self.sampled, self.full, self.alpha_per_epoch, self.segments
        )

    def metadata(self) -> dict[str, float]:
        """Flat numbers for Dagster metadata / MLflow: `test_<protocol>_<metric>` and α means."""
        numbers = {
            f"test_{result.protocol}_{name.replace('@', '_at_')}": value
            for result in (self.sampled, self.full)
            for name, value in result.metrics.items()
        }
        if self.sampled.alpha_mean is not None:
            numbers |= dict(zip(("test_alpha_static", "test_alpha_dynamic", "test_alpha_content"), self.sampled.alpha_mean))
        return numbers


def evaluate_variant(
    model: Recommender,
    bundle: TrainingBundle,
    test_negatives: torch.Tensor,
    *,
    variant: str,
    seed: int,
    alpha_per_epoch: Sequence[Sequence[float]] = (),
    segment_bounds: tuple[int, ...] = DEFAULT_SEGMENT_BOUNDS,
    collapse_threshold: float = 0.9,
) -> VariantEvaluation:
    """Both protocols on `bundle.test`, then per-segment and per-context-bucket breakdowns."""
    sampled = evaluate_sampled(model, bundle.test, test_negatives)
    full = evaluate_full(model, bundle.test, bundle.timeline, bundle.n_items)
    history_length = bundle.user_train_count[bundle.test.user].numpy()
    segments = segment_report(full, history_length, bounds=segment_bounds, collapse_threshold=collapse_threshold)
    segments["collapsed"] &= VARIANTS[variant].has_learned_gate if variant in VARIANTS else True
    context_alpha = alpha_by_context_bucket(full.alpha, bundle.test.context) if full.alpha is not None else None
    return VariantEvaluation(
        variant, seed, sampled, full, segments, context_alpha,
        tuple((float(s), float(d), float(c)) for s, d, c in alpha_per_epoch),
    )


def save_evaluation(evaluation: VariantEvaluation, path: Path) -> Path:
    """One .npz (arrays + a JSON header), written to a temp file and renamed into place."""
    header = {
        "variant": evaluation.variant,
        "seed": evaluation.seed,
        "alpha_per_epoch": evaluation.alpha_per_epoch,
        "segments": evaluation.segments.to_dict(orient="list"),
        "context_alpha": None if evaluation.context_alpha is None else evaluation.context_alpha.to_dict(orient="list"),
    }
    arrays = {
        "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
        "event_order": evaluation.sampled.event_order,
        "sampled_ranks": evaluation.sampled.ranks,
        "full_ranks": evaluation.full.ranks,
    }
    if evaluation.full.alpha is not None:
        arrays |= {"sampled_alpha": evaluation.sampled.alpha, "full_alpha": evaluation.full.alpha}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_evaluation(path: Path) -> VariantEvaluation:
    with np.load(path, allow_pickle=False) as stored:
        header = json.loads(stored["header"].tobytes().decode())
        event_order = stored["event_order"]
        alpha = {name: stored[name] if name in stored else None for name in ("sampled_alpha", "full_alpha")}
        sampled = EvalResult("sampled", event_order, stored["sampled_ranks"], alpha["sampled_alpha"])
        full = EvalResult("full", event_order, stored["full_ranks"], alpha["full_alpha"])
    context_alpha = header["context_alpha"]
    return VariantEvaluation(
        header["variant"],
        header["seed"],
        sampled,
        full,
        pd.DataFrame(header["segments"]),
        None if context_alpha is None else pd.DataFrame(context_alpha),
        tuple(tuple(epoch) for epoch in header["alpha_per_epoch"]),
    )
