"""What α alone cannot say: each component's effective share of the fused score, and what dropping it costs.

α_k weights component k's score s_k = w · h_k (hybrid_plus: its softmax_k, P = Σ_k α_k softmax_k), but
each component sets its own scale: a small α on a widely spread score can move the ranking more than a
large α on a flat one. Over a row's candidates (the whole catalogue, `Scores.component_spread`),

    effective_k = α_k · std_c(s_k),  share_k = effective_k / sum_j effective_j.

This module is the formula's one home. The drop test re-ranks the whole catalogue with component k
removed and the gate renormalised over the others (α_j / (1 − α_k), `HybridRecommender.dropping`), with
the evaluation's mask, so "NDCG@10 lost" is what the main table's ranking actually owed to k. Every mean
weighs each user once, as the segment report does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from hybridrec_ml.config import ALL_COMPONENTS, DEFAULT_SEGMENT_BOUNDS
from hybridrec_ml.evaluation.metrics import ndcg_at_k
from hybridrec_ml.evaluation.protocols import evaluate_full, evaluating, masked_timeline, user_mean
from hybridrec_ml.evaluation.segments import segment_labels, segment_of
from hybridrec_ml.evaluation.significance import MeanCI, mean_ci
from hybridrec_ml.models.hybrid import HybridRecommender
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.bundle import TrainingBundle

if TYPE_CHECKING:  # variant_evaluation imports this module's formula
    from hybridrec_ml.evaluation.variant_evaluation import VariantEvaluation

ALL_ROWS = "all"
CONTRIBUTION_COLUMNS = [
    "segment", "component", "n_users", "n_rows", "alpha", "score_spread", "effective_share",
    "ndcg@10", "ndcg@10_without", "ndcg_drop",
]  # fmt: skip


def effective_shares(alpha: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """[B, K] shares of α_k · spread_k (`Scores.component_spread`: over the catalogue); 0 where every spread is 0."""
    effective = alpha * spread
    total = effective.sum(dim=1, keepdim=True)
    return torch.where(total > 0, effective / total.clamp(min=torch.finfo(effective.dtype).tiny), torch.zeros_like(effective))


def component_contributions(
    model: HybridRecommender,
    bundle: TrainingBundle,
    evaluation: VariantEvaluation,
    *,
    bounds: tuple[int, ...] = DEFAULT_SEGMENT_BOUNDS,
    make_query: Callable[[torch.Tensor], Batch] | None = None,
    row_chunk: int | None = None,
    item_chunk: int | None = None,
) -> pd.DataFrame:
    """One row per (segment, present component) in CONTRIBUTION_COLUMNS, "all" first, on the full ranking
    of every test row with the evaluation's mask.

    α and the catalogue spreads are the `evaluation`'s own (the model's `evaluation` asset, full
    protocol); the drop test re-runs the full ranking once per present component under
    `model.dropping(k)`. Segments are the user's training-history length, as in `segment_report`;
    `make_query` is the variant's history path (tensors.sequences.batch_maker).
    """
    test = bundle.test
    full = evaluation.full
    if not np.array_equal(full.event_order, test.event_order.numpy()):
        raise ValueError(f"{evaluation.variant} seed {evaluation.seed}: the evaluation's test rows are not this bundle's")
    if full.alpha is None or full.component_spread is None:
        raise ValueError(f"{evaluation.variant} seed {evaluation.seed}: the evaluation has no α or component spreads")
    positions = model.positions
    present = [ALL_COMPONENTS[p] for p in positions]
    seen = masked_timeline(bundle, evaluation.mask)
    ndcg = ndcg_at_k(full.ranks, 10)
    ndcg_without = []
    for k in range(len(present)):
        with evaluating(model), model.dropping(k):
            dropped = evaluate_full(
                model, test, seen, bundle.n_items, make_query=make_query, row_chunk=row_chunk, item_chunk=item_chunk
            )
        ndcg_without.append(ndcg_at_k(dropped.ranks, 10))
    alpha = full.alpha[:, positions].astype(np.float64)
    spread = full.component_spread[:, positions].astype(np.float64)
    share = effective_shares(torch.from_numpy(alpha), torch.from_numpy(spread)).numpy()

    users = test.user.numpy()
    segment = segment_of(bundle.user_train_count[test.user].numpy(), bounds)
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
    return pd.DataFrame.from_records(records, columns=CONTRIBUTION_COLUMNS)


def user_ci(evaluation: VariantEvaluation, protocol: str) -> MeanCI:
    """NDCG@10 of a per-row protocol ("full": the main table's primary, with the evaluation's mask; or
    "sampled") with its user-level 95% interval: rows averaged per user first, every test user."""
    return mean_ci(evaluation.users[f"{protocol}:ndcg@10"].to_numpy())


def diagnosis_record(
    variant: str, seed: int, summary: dict, contributions: pd.DataFrame | None, evaluation: VariantEvaluation | None = None
) -> dict:
    """What gate_diagnosis stores for one (variant, seed), JSON-ready: the contributions (None without a
    learned gate: not applicable), the user-level NDCG@10 intervals of the variant's `evaluation` (full
    ranking, the primary one, and sampled), and the per-epoch gate dynamics from the training summary
    (α, entropy, logit-gradient norm, score scales)."""
    epochs = [
        {"epoch": s["epoch"], "alpha": s["alpha_mean"], "val_ndcg_at_10": s["val_ndcg_at_10"], **s.get("diagnostics", {})}
        for s in summary["history"]
    ]
    record: dict = {
        "variant": variant, "seed": seed, "applicable": contributions is not None,
        "best_epoch": summary["summary"].get("best_epoch", 0), "epochs": epochs,
    }  # fmt: skip
    if contributions is not None:
        if evaluation is None:
            raise ValueError(f"{variant} seed {seed}: a learned gate's record needs its evaluation")
        full, sampled = user_ci(evaluation, "full"), user_ci(evaluation, "sampled")
        record["contributions"] = contributions.to_dict(orient="records")
        record["drop_protocol"] = "full"  # older records dropped on the sampled candidates
        record["ndcg_full_user_ci"] = {"mean": full.mean, "half_width": full.half_width, "n_users": full.n, "mask": evaluation.mask}
        record["ndcg_sampled_user_ci"] = {"mean": sampled.mean, "half_width": sampled.half_width, "n_users": sampled.n}
    return record
