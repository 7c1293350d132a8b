"""Top-K ranking metrics for one held-out positive per interaction, computed from its rank.

Each evaluation row has exactly one relevant item, so every metric is a function of the 0-based
rank of that positive among the row's candidates. Ties are counted pessimistically: a candidate
whose score equals the positive's ranks ahead of it, so a model that scores everything equal
(or constant) gets the worst rank instead of a lucky one.
"""

from __future__ import annotations

import numpy as np
import torch

KS: tuple[int, ...] = (5, 10, 20)


def positive_rank(positive_score: torch.Tensor, other_scores: torch.Tensor) -> torch.Tensor:
    """0-based rank [B] of the positive: how many of the other candidates [B, C] score >= it.

    `>=` is the pessimistic tie rule: an equal score ranks ahead of the positive. Scores must not
    be NaN (a NaN never compares >=, so it would flatter the model; the protocols refuse NaN).
    """
    return (other_scores >= positive_score.unsqueeze(1)).sum(dim=1)


def ndcg_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-row NDCG@K with one relevant item: 1/log2(rank + 2) if rank < K else 0 (ideal DCG is 1)."""
    ranks = np.asarray(ranks, dtype=np.int64)
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def recall_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-row Recall@K, equal to HR@K with one relevant item: 1 if rank < K else 0."""
    return (np.asarray(ranks, dtype=np.int64) < k).astype(np.float64)


def precision_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-row Precision@K with one relevant item: HR@K / K."""
    return recall_at_k(ranks, k) / k


def reciprocal_rank(ranks: np.ndarray) -> np.ndarray:
    """Per-row reciprocal rank 1/(rank + 1); its mean is MRR (untruncated)."""
    return 1.0 / (np.asarray(ranks, dtype=np.int64) + 1.0)


def per_row_metrics(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, np.ndarray]:
    """Every metric per row, keyed like "ndcg@10", "recall@10", "precision@10", "mrr"."""
    rows: dict[str, np.ndarray] = {}
    for k in ks:
        rows[f"ndcg@{k}"] = ndcg_at_k(ranks, k)
        rows[f"recall@{k}"] = recall_at_k(ranks, k)
        rows[f"precision@{k}"] = precision_at_k(ranks, k)
    rows["mrr"] = reciprocal_rank(ranks)
    return rows


def mean_metrics(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """Means of `per_row_metrics` (NaN for an empty set of rows)."""
    if len(ranks) == 0:
        return {name: float("nan") for name in per_row_metrics(np.zeros(1, dtype=np.int64), ks)}
    return {name: float(values.mean()) for name, values in per_row_metrics(ranks, ks).items()}
