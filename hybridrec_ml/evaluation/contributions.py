"""What α alone cannot say: each component's effective share of the fused score, and what dropping it costs.

α_k weights component k's score s_k = w · h_k (hybrid_plus: its softmax_k, P = Σ_k α_k softmax_k), but
each component sets its own scale: a small α on a widely spread score can move the ranking more than a
large α on a flat one. Over a row's candidates,

    effective_k = α_k · std_c(s_k),  share_k = effective_k / sum_j effective_j.

This module is the formula's one home: the diagnosis below takes the std over a row's sampled
candidates, the `evaluation` asset over the whole catalogue (`Scores.component_spread`, full ranking).
The drop test re-ranks the same candidates with component k removed and the gate renormalised
over the others (α_j / (1 − α_k)), so "NDCG@10 lost" is what the ranking actually owed to k.
Sampled protocol (positive + the stored 99 negatives), on the model's device, no gradient; every
mean weighs each user once, as the segment report does. The diagnosis record's primary NDCG@10 is
the main table's full ranking (`full_ranking_ci`), the sampled one stays beside it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from hybridrec_ml.config import ALL_COMPONENTS, DEFAULT_SEGMENT_BOUNDS
from hybridrec_ml.evaluation.metrics import ndcg_at_k, positive_rank
from hybridrec_ml.evaluation.protocols import default_chunk, evaluating, model_device, user_mean
from hybridrec_ml.evaluation.segments import segment_labels, segment_of
from hybridrec_ml.evaluation.significance import MeanCI, mean_ci
from hybridrec_ml.evaluation.variant_evaluation import VariantEvaluation
from hybridrec_ml.models.hybrid import HybridRecommender
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.batching import make_batch
from hybridrec_ml.tensors.bundle import InteractionSet

ALL_ROWS = "all"
CONTRIBUTION_COLUMNS = [
    "segment", "component", "n_users", "n_rows", "alpha", "score_spread", "effective_share",
    "ndcg@10", "ndcg@10_without", "ndcg_drop",
]  # fmt: skip


def without_component(alpha: torch.Tensor, k: int) -> torch.Tensor:
    """α [B, K] with component k removed and the rest renormalised to sum to 1 (rows with α_k = 1 become 0)."""
    kept = alpha.clone()
    kept[:, k] = 0
    total = kept.sum(dim=1, keepdim=True)
    return torch.where(total > 0, kept / total.clamp(min=torch.finfo(kept.dtype).tiny), kept)


def score_spread(scores: torch.Tensor) -> torch.Tensor:
    """[B, K] std over the candidates of each component's score (scores [B, C, K]; population std)."""
    return scores.std(dim=1, unbiased=False)


def effective_shares(alpha: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """[B, K] shares of α_k · spread_k (`score_spread` over the candidates, or `Scores.component_spread`
    over the catalogue); 0 where every spread is 0."""
    effective = alpha * spread
    total = effective.sum(dim=1, keepdim=True)
    return torch.where(total > 0, effective / total.clamp(min=torch.finfo(effective.dtype).tiny), torch.zeros_like(effective))


def component_contributions(
    model: HybridRecommender,
    split: InteractionSet,
    negatives: torch.Tensor,
    history_length: np.ndarray | torch.Tensor,
    *,
    bounds: tuple[int, ...] = DEFAULT_SEGMENT_BOUNDS,
    make_query: Callable[[torch.Tensor], Batch] | None = None,
    max_history: int = 50,
    batch_size: int | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (segment, present component) in CONTRIBUTION_COLUMNS, "all" first; and the per-row
    NDCG@10 of the full model (for user-level intervals).

    `negatives` [N, n] are the stored sampled negatives row-aligned with `split`; `history_length`
    each row's user training-history length (segments as in `segment_report`); `make_query` the
    variant's history path (tensors.sequences.batch_maker), by default per-row windows.
    """
    make_query = make_query or (lambda chunk: make_batch(split, chunk, max_history))
    device = model_device(model)
    present = [ALL_COMPONENTS[p] for p in model.positions]
    alphas, spreads, shares, full_ranks = [], [], [], []
    dropped_ranks: list[list[torch.Tensor]] = [[] for _ in present]
    with evaluating(model):
        for chunk in torch.arange(len(split)).split(default_chunk("batch_size", batch_size, device)):
            batch = make_query(chunk).to(device)
            candidates = torch.cat([split.item[chunk].unsqueeze(1), negatives[chunk]], dim=1).to(device)
            parts = model.component_scores(batch, candidates)
            scores, alpha = parts.scores.float(), parts.alpha.float()
            fused = parts.fused()
            full_ranks.append(positive_rank(fused[:, 0], fused[:, 1:]).cpu())
            for k in range(len(present)):
                without = parts.fused(without_component(alpha, k))
                dropped_ranks[k].append(positive_rank(without[:, 0], without[:, 1:]).cpu())
            spread = score_spread(scores)
            alphas.append(alpha.cpu())
            spreads.append(spread.cpu())
            shares.append(effective_shares(alpha, spread).cpu())
    alpha, spread, share = (torch.cat(t).double().numpy() for t in (alphas, spreads, shares))
    ndcg = ndcg_at_k(torch.cat(full_ranks).numpy(), 10)
    ndcg_without = [ndcg_at_k(torch.cat(r).numpy(), 10) for r in dropped_ranks]

    users = split.user.numpy()
    segment = segment_of(np.asarray(history_length), bounds)
    groups = [(ALL_ROWS, np.ones(len(ndcg), dtype=bool))]
    groups += [(label, segment == i) for i, label in enumerate(segment_labels(bounds))]
    records = []
    for label, selected in groups:
        n_rows, n_users = int(selected.sum()), len(np.unique(users[selected]))

        def mean(values: np.ndarray, selected: np.ndarray = selected) -> float:
            return user_mean(values[selected], users[selected])

        for k, name in enumerate(present):
            records.append({
                "segment": label, "component": name, "n_users": n_users, "n_rows": n_rows, "alpha": mean(alpha[:, k]),
                "score_spread": mean(spread[:, k]), "effective_share": mean(share[:, k]), "ndcg@10": mean(ndcg),
                "ndcg@10_without": mean(ndcg_without[k]), "ndcg_drop": mean(ndcg - ndcg_without[k]),
            })  # fmt: skip
    return pd.DataFrame.from_records(records, columns=CONTRIBUTION_COLUMNS), ndcg


def user_level_ci(values: np.ndarray, users: np.ndarray | torch.Tensor) -> MeanCI:
    """95% interval of the mean over users of each user's mean value (rows of one user are not independent)."""
    users = np.asarray(users)
    _, inverse, counts = np.unique(users, return_inverse=True, return_counts=True)
    per_user = np.bincount(inverse, weights=np.asarray(values, dtype=np.float64)) / counts
    return mean_ci(per_user)


def full_ranking_ci(evaluation: VariantEvaluation) -> MeanCI:
    """The main table's primary NDCG@10 with its user-level 95% interval: per-row full ranking over the
    catalogue (with the evaluation's mask, history by default), averaged per user, every test user."""
    return mean_ci(evaluation.users["full:ndcg@10"].to_numpy())


def diagnosis_record(
    variant: str, seed: int, summary: dict, contributions: pd.DataFrame | None, ndcg: np.ndarray | None,
    users: np.ndarray | None, evaluation: VariantEvaluation | None = None,
) -> dict:
    """What gate_diagnosis stores for one (variant, seed), JSON-ready: the contributions (None without a
    learned gate: not applicable), the user-level NDCG@10 intervals (full ranking from the variant's
    `evaluation`, the primary one; sampled from the contributions' per-row `ndcg`), and the per-epoch
    gate dynamics from the training summary (α, entropy, logit-gradient norm, score scales)."""
    epochs = [
        {"epoch": s["epoch"], "alpha": s["alpha_mean"], "val_ndcg_at_10": s["val_ndcg_at_10"], **s.get("diagnostics", {})}
        for s in summary["history"]
    ]
    record: dict = {
        "variant": variant, "seed": seed, "applicable": contributions is not None,
        "best_epoch": summary["summary"].get("best_epoch", 0), "epochs": epochs,
    }  # fmt: skip
    if contributions is not None:
        if ndcg is None or users is None or evaluation is None:
            raise ValueError(f"{variant} seed {seed}: a learned gate's record needs its sampled NDCG, users and evaluation")
        full, sampled = full_ranking_ci(evaluation), user_level_ci(ndcg, users)
        record["contributions"] = contributions.to_dict(orient="records")
        record["ndcg_full_user_ci"] = {"mean": full.mean, "half_width": full.half_width, "n_users": full.n, "mask": evaluation.mask}
        record["ndcg_sampled_user_ci"] = {"mean": sampled.mean, "half_width": sampled.half_width, "n_users": sampled.n}
    return record
