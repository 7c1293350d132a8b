"""Top-K ranking metrics, computed from the 0-based positions of the positives.

Per row (the study's protocol): each evaluation row has exactly one relevant item, so every
metric is a function of the rank of that positive among the row's candidates. Per user
(RecBole's full-sort protocol): a user has several positives at once, see `per_user_metrics`.
Ties are counted pessimistically: a candidate whose score equals a positive's ranks ahead of it,
so a model that scores everything equal (or constant) gets the worst rank instead of a lucky one.
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


def per_user_metrics(
    positive_ptr: np.ndarray, positions: np.ndarray, ks: tuple[int, ...] = (10, 20)
) -> dict[str, np.ndarray]:
    """RecBole 1.2.1's top-K metrics per user, from the positions of each user's positives.

    User u's positives sit at 0-based positions[ptr[u]:ptr[u+1]] of its ranked list, n_u of them:
      hit@K       = 1 if any position < K
      recall@K    = #(positions < K) / n_u                 (RecBole divides by all positives, not min(n_u, K))
      precision@K = #(positions < K) / K
      ndcg@K      = sum_{p < K} 1/log2(p + 2)  /  sum_{j < min(n_u, K)} 1/log2(j + 2)
      mrr@K       = 1 / (first position + 1) if it is < K, else 0
    """
    positive_ptr, positions = np.asarray(positive_ptr, dtype=np.int64), np.asarray(positions, dtype=np.int64)
    n_users = positive_ptr.size - 1
    n_positives = np.diff(positive_ptr)
    if (n_positives <= 0).any():
        raise ValueError("every user needs at least one positive")
    owner = np.repeat(np.arange(n_users), n_positives)
    first = np.minimum.reduceat(positions, positive_ptr[:-1]) if n_users else np.zeros(0, dtype=np.int64)
    metrics: dict[str, np.ndarray] = {}
    for k in ks:
        inside = positions < k
        hits = np.bincount(owner, weights=inside, minlength=n_users)
        dcg = np.bincount(owner, weights=np.where(inside, 1.0 / np.log2(positions + 2.0), 0.0), minlength=n_users)
        ideal = np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))[np.minimum(n_positives, k) - 1]
        metrics[f"ndcg@{k}"] = dcg / ideal
        metrics[f"recall@{k}"] = hits / n_positives
        metrics[f"precision@{k}"] = hits / k
        metrics[f"hit@{k}"] = (hits > 0).astype(np.float64)
        metrics[f"mrr@{k}"] = np.where(first < k, 1.0 / (first + 1.0), 0.0)
    return metrics
