"""Evaluate one trained (variant, seed) on the test split, and store / reload the outcome as one file.

Three protocols: per row against the stored negatives (`sampled`) and against the catalogue
(`full`), and per user (`per_user`, RecBole's full sort). The stored file keeps per-row ranks, the
per-user positions and who each row belongs to, so the user-level tables, segments and paired
tests are recomputed from it without re-scoring anything.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from hybridrec_ml.atomic import atomic_write_bytes
from hybridrec_ml.config import ALPHA_COLUMNS, EFFECTIVE_SHARE_COLUMNS
from hybridrec_ml.evaluation.contributions import effective_shares
from hybridrec_ml.evaluation.metrics import per_row_metrics
from hybridrec_ml.evaluation.protocols import (
    EvalResult,
    PerUserResult,
    evaluate_full,
    evaluate_per_user,
    evaluate_sampled,
    masked_timeline,
)
from hybridrec_ml.evaluation.segments import alpha_by_context_bucket
from hybridrec_ml.models.base import Recommender
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.bundle import TrainingBundle

# Primary first: per-row full ranking is the study's protocol with an honest candidate set.
PROTOCOLS: tuple[str, ...] = ("full", "sampled", "per_user")
PROTOCOL_LABELS = {"full": "per row, full ranking", "sampled": "per row, 99 sampled", "per_user": "per user (RecBole)"}
USER_METRICS: tuple[str, ...] = ("ndcg@10", "recall@10")
POPULATIONS: tuple[str, ...] = ("all", "warm")  # warm: users with at least one training interaction
PER_USER_KS: tuple[int, ...] = (10, 20)


@dataclass(frozen=True, eq=False)
class VariantEvaluation:
    variant: str
    seed: int
    mask: str  # "history" (default) or "train_only": what the per-row full ranking masked
    sampled: EvalResult
    full: EvalResult
    per_user: PerUserResult
    row_user: np.ndarray  # int64 [N]: user_idx of each test row (aligned with sampled / full)
    row_cold_item: np.ndarray  # bool [N]: the row's item never occurs in training
    user_train_count: np.ndarray  # int64 [U]: training interactions of per_user.users (0 = cold user)
    context_alpha: pd.DataFrame | None  # mean α and effective share per context bucket; None without a gate
    alpha_per_epoch: tuple[tuple[float, float, float], ...]
    # how the model was trained: profile, best_epoch, epochs, max_epochs, stopped_early (None: not recorded)
    training: dict[str, Any] | None = None

    @cached_property
    def users(self) -> pd.DataFrame:
        """One row per evaluated test user: counts, per-user metric means per protocol, mean α, cold-item slice.

        Per-row protocols are averaged over the user's rows first, so every user weighs the same
        (the unit of the paired tests); `per_user` is RecBole's per-user value itself.
        Columns: user, train_count, warm, rows, "<protocol>:<metric>", alpha_*, cold_item_rows,
        "cold_items:<metric>" (full ranking over the user's cold-item rows, NaN without any).
        """
        users = self.per_user.users
        where = np.searchsorted(users, self.row_user)
        if len(users) and not np.array_equal(users[where], self.row_user):
            raise ValueError("a test row's user is missing from the per-user result")

        def mean_over_rows(values: np.ndarray, selected: np.ndarray | None = None) -> np.ndarray:
            selected = np.ones(len(where), dtype=bool) if selected is None else selected
            totals = np.bincount(where[selected], weights=values[selected], minlength=len(users))
            counts = np.bincount(where[selected], minlength=len(users))
            with np.errstate(invalid="ignore", divide="ignore"):
                return totals / counts

        frame = {
            "user": users,
            "train_count": self.user_train_count,
            "warm": self.user_train_count > 0,
            "rows": np.bincount(where, minlength=len(users)),
        }
        for protocol, result in (("full", self.full), ("sampled", self.sampled)):
            per_row = per_row_metrics(result.ranks, (10,))
            frame |= {f"{protocol}:{metric}": mean_over_rows(per_row[metric]) for metric in USER_METRICS}
        frame |= {f"per_user:{metric}": self.per_user.per_user[metric] for metric in USER_METRICS}
        alpha = self.full.alpha
        frame |= {
            column: mean_over_rows(alpha[:, k].astype(np.float64)) if alpha is not None else np.full(len(users), np.nan)
            for k, column in enumerate(ALPHA_COLUMNS)
        }
        frame["cold_item_rows"] = np.bincount(where[self.row_cold_item], minlength=len(users))
        full = per_row_metrics(self.full.ranks, (10,))
        frame |= {f"cold_items:{metric}": mean_over_rows(full[metric], self.row_cold_item) for metric in USER_METRICS}
        return pd.DataFrame(frame)

    @cached_property
    def effective_share(self) -> np.ndarray | None:
        """float64 [N, 3] each component's effective share of each test row's full ranking (α × its score
        spread over the catalogue, normalised); None where the model fuses nothing or did not measure spreads."""
        return full_ranking_shares(self.full)

    def population(self, name: str) -> pd.DataFrame:
        users = self.users
        return users if name == "all" else users[users["warm"]]

    def counts(self) -> dict[str, int]:
        """Users and test rows per population (the same for every protocol), and the per-user protocol's positives."""
        numbers = {}
        for name in POPULATIONS:
            users = self.population(name)
            numbers |= {f"users_{name}": len(users), f"rows_{name}": int(users["rows"].sum())}
        numbers["per_user_positives_all"] = int(self.per_user.n_positives.sum())
        numbers["cold_item_rows"] = int(self.row_cold_item.sum())
        return numbers

    def metadata(self) -> dict[str, float]:
        """Flat numbers for Dagster metadata / MLflow: user-level means per protocol and population, counts, α."""
        numbers: dict[str, float] = dict(self.counts())
        for name in POPULATIONS:
            users = self.population(name)
            for protocol in PROTOCOLS:
                for metric in USER_METRICS:
                    key = f"test_{protocol}_{name}_{metric.replace('@', '_at_')}"
                    numbers[key] = float(users[f"{protocol}:{metric}"].mean())
        if self.full.alpha_mean is not None:
            numbers |= dict(zip((f"test_{column}" for column in ALPHA_COLUMNS), self.full.alpha_mean))
        if self.effective_share is not None and len(self.effective_share):
            numbers |= dict(zip((f"test_{column}" for column in EFFECTIVE_SHARE_COLUMNS), self.effective_share.mean(axis=0)))
        return numbers


def full_ranking_shares(full: EvalResult) -> np.ndarray | None:
    """Per-row effective shares [N, 3] from full ranking's α and catalogue spreads (None without both)."""
    if full.alpha is None or full.component_spread is None:
        return None
    return effective_shares(torch.from_numpy(full.alpha).double(), torch.from_numpy(full.component_spread).double()).numpy()


def evaluate_variant(
    model: Recommender,
    bundle: TrainingBundle,
    test_negatives: torch.Tensor,
    *,
    variant: str,
    seed: int,
    alpha_per_epoch: Sequence[Sequence[float]] = (),
    mask: str = "history",
    make_query: Callable[[torch.Tensor], Batch] | None = None,
    training: dict[str, Any] | None = None,
    batch_size: int | None = None,
    row_chunk: int | None = None,
    item_chunk: int | None = None,
) -> VariantEvaluation:
    """All three protocols on every test row / test user of `bundle`, cold users and cold items included.

    mask "history": a row's full-ranking candidates exclude whatever its user had before it
    (train, val, earlier test); "train_only": only the user's training items (the study's rule).
    The per-user protocol always masks train + valid, as RecBole defines it. `make_query` gives
    test rows their history on the model's path (tensors.sequences.batch_maker); scoring runs on
    the model's device. The chunk sizes (None: the protocols' per-device defaults) bound memory,
    never the result.
    """
    test = bundle.test
    seen = masked_timeline(bundle, mask)
    sampled = evaluate_sampled(model, test, test_negatives, make_query=make_query, batch_size=batch_size)
    full = evaluate_full(model, test, seen, bundle.n_items, make_query=make_query, row_chunk=row_chunk, item_chunk=item_chunk)
    history = bundle.timeline.items_before(int(test.event_order.min()))
    per_user = evaluate_per_user(
        model, test, history, k_values=PER_USER_KS, make_query=make_query, row_chunk=row_chunk, item_chunk=item_chunk
    )
    context_alpha = (
        alpha_by_context_bucket(full.alpha, test.context, full_ranking_shares(full)) if full.alpha is not None else None
    )
    return VariantEvaluation(
        variant=variant,
        seed=seed,
        mask=mask,
        sampled=sampled,
        full=full,
        per_user=per_user,
        row_user=test.user.numpy(),
        row_cold_item=(bundle.item_train_count[test.item] == 0).numpy(),
        user_train_count=bundle.user_train_count[torch.from_numpy(per_user.users)].numpy(),
        context_alpha=context_alpha,
        alpha_per_epoch=tuple((float(s), float(d), float(c)) for s, d, c in alpha_per_epoch),
        training=training,
    )


def save_evaluation(evaluation: VariantEvaluation, path: Path) -> Path:
    """One .npz (arrays + a JSON header), written to a temp file and renamed into place."""
    header = {
        "variant": evaluation.variant,
        "seed": evaluation.seed,
        "mask": evaluation.mask,
        "k_values": list(evaluation.per_user.k_values),
        "alpha_per_epoch": evaluation.alpha_per_epoch,
        "training": evaluation.training,
        "context_alpha": None if evaluation.context_alpha is None else evaluation.context_alpha.to_dict(orient="list"),
    }
    arrays = {
        "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
        "event_order": evaluation.sampled.event_order,
        "sampled_ranks": evaluation.sampled.ranks,
        "full_ranks": evaluation.full.ranks,
        "row_user": evaluation.row_user,
        "row_cold_item": evaluation.row_cold_item,
        "users": evaluation.per_user.users,
        "positive_ptr": evaluation.per_user.positive_ptr,
        "positions": evaluation.per_user.positions,
        "user_train_count": evaluation.user_train_count,
    }
    optional = {
        "sampled_alpha": evaluation.sampled.alpha,
        "full_alpha": evaluation.full.alpha,
        "full_component_spread": evaluation.full.component_spread,
        "per_user_alpha": evaluation.per_user.alpha,
    }
    arrays |= {name: value for name, value in optional.items() if value is not None}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return atomic_write_bytes(path, buffer.getvalue())


def load_evaluation(path: Path) -> VariantEvaluation:
    with np.load(path, allow_pickle=False) as stored:
        header = json.loads(stored["header"].tobytes().decode())
        arrays = {name: stored[name] for name in stored.files if name != "header"}
    alpha = {name: arrays.get(name) for name in ("sampled_alpha", "full_alpha", "per_user_alpha")}
    context_alpha = header["context_alpha"]
    return VariantEvaluation(
        variant=header["variant"],
        seed=header["seed"],
        mask=header["mask"],
        sampled=EvalResult("sampled", arrays["event_order"], arrays["sampled_ranks"], alpha["sampled_alpha"]),
        full=EvalResult(
            "full", arrays["event_order"], arrays["full_ranks"], alpha["full_alpha"], arrays.get("full_component_spread")
        ),
        per_user=PerUserResult(
            arrays["users"], arrays["positive_ptr"], arrays["positions"], alpha["per_user_alpha"], tuple(header["k_values"])
        ),
        row_user=arrays["row_user"],
        row_cold_item=arrays["row_cold_item"],
        user_train_count=arrays["user_train_count"],
        context_alpha=None if context_alpha is None else pd.DataFrame(context_alpha),
        alpha_per_epoch=tuple(tuple(epoch) for epoch in header["alpha_per_epoch"]),
        training=header.get("training"),
    )
