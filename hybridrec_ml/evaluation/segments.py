"""Where the model works and where its gate looks: metrics and mean α per user segment / context bucket.

Segments are per user (users by training-history length, cold users their own segment), with
the cold-item slice next to them; every mean weighs each user once.

The study diagnosed gate collapse from exactly this view (α_static ≈ 0.99 in every history-length
segment); the per-context-bucket view asks whether a gate adapts to the context it conditions on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from hybridrec_ml.config import ALPHA_COLUMNS, DEFAULT_COLLAPSE_THRESHOLD, DEFAULT_SEGMENT_BOUNDS, EFFECTIVE_SHARE_COLUMNS
from hybridrec_ml.data.transforms.context_buckets import CONTEXT_BUCKETS, bucket_of_context

COLD_ITEMS = "cold items (unseen in training)"
SEGMENT_COLUMNS = [
    "segment", "n_users", "n_rows", "ndcg@10", "recall@10", "per_user_ndcg@10", *ALPHA_COLUMNS, "collapsed",
]  # fmt: skip


def segment_labels(bounds: tuple[int, ...] = DEFAULT_SEGMENT_BOUNDS) -> tuple[str, ...]:
    """Labels by training interactions: with the defaults "0 (cold)", "1-3", "4-10", "11-30", ">30"."""
    if list(bounds) != sorted(set(bounds)) or not bounds or bounds[0] < 0:
        raise ValueError(f"segment boundaries must be strictly increasing and >= 0, got {bounds}")
    lows = [0, *(b + 1 for b in bounds)]
    labels = [f"{low}-{high}" if low < high else f"{high}" for low, high in zip(lows, bounds)] + [f">{bounds[-1]}"]
    return tuple(f"{label} (cold)" if label == "0" else label for label in labels)


def segment_of(history_length: np.ndarray, bounds: tuple[int, ...] = DEFAULT_SEGMENT_BOUNDS) -> np.ndarray:
    """Segment id per user: 0 for length ≤ bounds[0], i for bounds[i-1] < length ≤ bounds[i], ..."""
    return np.searchsorted(np.asarray(bounds), np.asarray(history_length), side="left")


def _record(label: str, users: pd.DataFrame, n_rows: int, prefix: str, has_gate: bool, threshold: float) -> dict:
    alpha = {column: float(users[column].mean()) if len(users) else float("nan") for column in ALPHA_COLUMNS}
    populated = len(users) > 0 and not any(np.isnan(list(alpha.values())))
    return {
        "segment": label,
        "n_users": len(users),
        "n_rows": n_rows,
        "ndcg@10": float(users[f"{prefix}:ndcg@10"].mean()) if len(users) else float("nan"),
        "recall@10": float(users[f"{prefix}:recall@10"].mean()) if len(users) else float("nan"),
        "per_user_ndcg@10": float(users["per_user:ndcg@10"].mean()) if len(users) and prefix == "full" else float("nan"),
        **alpha,
        # None: not applicable (no learned gate, or nobody in the segment)
        "collapsed": bool(max(alpha.values()) > threshold) if has_gate and populated else None,
    }


def segment_report(
    users: pd.DataFrame,
    *,
    has_gate: bool,
    bounds: tuple[int, ...] = DEFAULT_SEGMENT_BOUNDS,
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD,
) -> pd.DataFrame:
    """Per user segment, then the cold-item slice: users, rows and per-user means (each user weighs once).

    `users` is `VariantEvaluation.users`. ndcg@10 / recall@10 are the full-ranking per-row
    protocol averaged per user, then over the segment's users; per_user_ndcg@10 the per-user
    protocol's. The cold-item slice takes every user with a test row whose item is unseen in
    training, over those rows only. `collapsed` is None (not applicable) without a learned gate.
    """
    segment = segment_of(users["train_count"].to_numpy(), bounds)
    records = [
        _record(label, members, int(members["rows"].sum()), "full", has_gate, collapse_threshold)
        for segment_id, label in enumerate(segment_labels(bounds))
        for members in (users[segment == segment_id],)
    ]
    cold = users[users["cold_item_rows"] > 0]
    records.append(_record(COLD_ITEMS, cold, int(cold["cold_item_rows"].sum()), "cold_items", False, collapse_threshold))
    for column in ALPHA_COLUMNS:
        records[-1][column] = float("nan")  # α above is per user over all rows, not the slice's
    return pd.DataFrame.from_records(records, columns=SEGMENT_COLUMNS)


def _column_means(values: np.ndarray | None, selected: np.ndarray, columns: tuple[str, ...]) -> dict[str, float]:
    if values is None or not selected.any():
        return {column: float("nan") for column in columns}
    means = values[selected].astype(np.float64).mean(axis=0)
    return {column: float(value) for column, value in zip(columns, means)}


def alpha_by_context_bucket(
    alpha: np.ndarray, context: torch.Tensor, effective_share: np.ndarray | None = None
) -> pd.DataFrame:
    """Mean learned α and mean effective share (per-row [N, 3], None: not measured) per context bucket
    (the buckets the synthetic generator plants mechanisms in); means over the bucket's rows.

    One row per bucket in CONTEXT_BUCKETS order: bucket, n_rows, ALPHA_COLUMNS, EFFECTIVE_SHARE_COLUMNS
    (NaN for a bucket without rows, and the shares NaN when not measured).
    """
    for name, values in (("alpha", alpha), ("effective share", effective_share)):
        if values is not None and len(values) != len(context):
            raise ValueError(f"{len(values)} {name} rows for {len(context)} context rows")
    bucket = np.asarray(bucket_of_context(context))
    records = []
    for bucket_id, name in enumerate(CONTEXT_BUCKETS):
        selected = bucket == bucket_id
        records.append({
            "bucket": name, "n_rows": int(selected.sum()), **_column_means(alpha, selected, ALPHA_COLUMNS),
            **_column_means(effective_share, selected, EFFECTIVE_SHARE_COLUMNS),
        })  # fmt: skip
    return pd.DataFrame.from_records(records)
