"""Where the model works and where its gate looks: metrics and mean α per user segment / context bucket.

The study diagnosed gate collapse from exactly this view (α_static ≈ 0.99 in every history-length
segment); the per-context-bucket view asks whether a gate adapts to the context it conditions on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from hybridrec_ml.config import ALPHA_COLUMNS, DEFAULT_COLLAPSE_THRESHOLD
from hybridrec_ml.data.transforms.context_buckets import CONTEXT_BUCKETS, bucket_of_context
from hybridrec_ml.evaluation.metrics import ndcg_at_k, recall_at_k
from hybridrec_ml.evaluation.protocols import EvalResult

DEFAULT_SEGMENT_BOUNDS: tuple[int, ...] = (3, 10, 30)
SEGMENT_NAMES: tuple[str, ...] = ("cold-start", "warm", "hot", "super-hot")


def segment_labels(
    bounds: tuple[int, ...] = DEFAULT_SEGMENT_BOUNDS, names: tuple[str, ...] = SEGMENT_NAMES
) -> tuple[str, ...]:
    """Human labels: with the defaults "cold-start (≤3)", "warm (4-10)", "hot (11-30)", "super-hot (>30)"."""
    if len(names) != len(bounds) + 1:
        raise ValueError(f"{len(bounds)} boundaries make {len(bounds) + 1} segments, got {len(names)} names")
    if list(bounds) != sorted(set(bounds)):
        raise ValueError(f"segment boundaries must be strictly increasing, got {bounds}")
    ranges = [f"≤{bounds[0]}"] + [f"{low + 1}-{high}" for low, high in zip(bounds, bounds[1:])] + [f">{bounds[-1]}"]
    return tuple(f"{name} ({span})" for name, span in zip(names, ranges))


def segment_of(history_length: np.ndarray, bounds: tuple[int, ...] = DEFAULT_SEGMENT_BOUNDS) -> np.ndarray:
    """Segment id per row: 0 for length ≤ bounds[0], i for bounds[i-1] < length ≤ bounds[i], ..."""
    return np.searchsorted(np.asarray(bounds), np.asarray(history_length), side="left")


def _alpha_means(alpha: np.ndarray | None, selected: np.ndarray) -> dict[str, float]:
    if alpha is None or not selected.any():
        return {column: float("nan") for column in ALPHA_COLUMNS}
    means = alpha[selected].astype(np.float64).mean(axis=0)
    return {column: float(value) for column, value in zip(ALPHA_COLUMNS, means)}


def segment_report(
    result: EvalResult,
    history_length: np.ndarray | torch.Tensor,
    *,
    bounds: tuple[int, ...] = DEFAULT_SEGMENT_BOUNDS,
    names: tuple[str, ...] = SEGMENT_NAMES,
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD,
) -> pd.DataFrame:
    """One row per segment: n_rows, ndcg@10, recall@10, mean α per component, collapsed.

    `history_length` is each evaluated row's user training-history length (row-aligned with
    `result`, e.g. `bundle.user_train_count[split.user]`). Empty segments keep their row with
    NaN metrics; `collapsed` is False where there is no gate or no row.
    """
    history_length = np.asarray(history_length)
    if len(history_length) != len(result.ranks):
        raise ValueError(f"{len(history_length)} history lengths for {len(result.ranks)} evaluated rows")
    segment = segment_of(history_length, bounds)
    ndcg, recall = ndcg_at_k(result.ranks, 10), recall_at_k(result.ranks, 10)
    records = []
    for segment_id, label in enumerate(segment_labels(bounds, names)):
        selected = segment == segment_id
        alpha = _alpha_means(result.alpha, selected)
        records.append(
            {
                "segment": label,
                "n_rows": int(selected.sum()),
                "ndcg@10": float(ndcg[selected].mean()) if selected.any() else float("nan"),
                "recall@10": float(recall[selected].mean()) if selected.any() else float("nan"),
                **alpha,
                "collapsed": bool(max(alpha.values()) > collapse_threshold),
            }
        )
    return pd.DataFrame.from_records(records)


def alpha_by_context_bucket(alpha: np.ndarray, context: torch.Tensor) -> pd.DataFrame:
    """Mean learned α per context bucket (the buckets the synthetic generator plants mechanisms in).

    One row per bucket in CONTEXT_BUCKETS order: bucket, n_rows, alpha_static, alpha_dynamic,
    alpha_content (NaN for a bucket without rows).
    """
    if len(alpha) != len(context):
        raise ValueError(f"{len(alpha)} alpha rows for {len(context)} context rows")
    bucket = np.asarray(bucket_of_context(context))
    records = []
    for bucket_id, name in enumerate(CONTEXT_BUCKETS):
        selected = bucket == bucket_id
        records.append({"bucket": name, "n_rows": int(selected.sum()), **_alpha_means(alpha, selected)})
    return pd.DataFrame.from_records(records)
