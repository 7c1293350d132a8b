"""The `recommendations` table: every (or a chosen) user's top-K at one moment, one partition at a time.

A (variant, seed)'s rows are replaced in one transaction, so readers see the old list or the new
one, never a mix; the check reads the written rows back and compares them with the consumption log.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import torch

from hybridrec_ml.data.transforms.context import ContextTables
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.checks import CheckOutcome
from hybridrec_ml.evaluation.protocols import evaluating, model_device
from hybridrec_ml.models.base import Recommender
from hybridrec_ml.serving.consumption import ConsumptionLog, context_at, query_batch
from hybridrec_ml.serving.topk import excluded_pairs, top_k

RECOMMENDATIONS = "recommendations"
RECOMMENDATIONS_COLUMNS = {
    "variant": "VARCHAR NOT NULL",
    "seed": "INTEGER NOT NULL",
    "user_idx": "INTEGER NOT NULL",
    "user_id": "VARCHAR NOT NULL",
    "rank": "SMALLINT NOT NULL",  # 1 = best
    "item_idx": "INTEGER NOT NULL",
    "item_id": "VARCHAR NOT NULL",
    "score": "FLOAT NOT NULL",
    "alpha_static": "FLOAT",  # the fusion weights used for the user (NULL for models without a gate)
    "alpha_dynamic": "FLOAT",
    "alpha_content": "FLOAT",
    "context_ts": "BIGINT NOT NULL",  # unix seconds: the moment recommended for (history and context)
}
ALPHA_COLUMNS = ("alpha_static", "alpha_dynamic", "alpha_content")
_ROWS = "recommendation_rows"
_INSERT_SQL = f"""
INSERT INTO {RECOMMENDATIONS} ({schema.column_list(RECOMMENDATIONS_COLUMNS)})
SELECT $variant, $seed, r.user_idx, u.user_id, r.rank, r.item_idx, i.item_id, r.score,
       {", ".join(f"r.{name}" for name in ALPHA_COLUMNS)}, $context_ts
FROM {_ROWS} AS r
JOIN {schema.USER_INDEX} AS u ON u.user_idx = r.user_idx
JOIN {schema.ITEM_INDEX} AS i ON i.item_idx = r.item_idx
ORDER BY r.user_idx, r.rank
"""
# Per wanted user: rows written, distinct items among them, items it had consumed by context_ts.
_CHECK_SQL = f"""
WITH wanted AS (SELECT unnest($users::INTEGER[]) AS user_idx),
     written AS (SELECT * FROM {RECOMMENDATIONS} WHERE variant = $variant AND seed = $seed),
     consumed AS (
         SELECT user_idx, count(DISTINCT item_idx) AS n FROM {schema.INTERACTIONS_5CORE}
         WHERE ts <= $context_ts GROUP BY user_idx),
     per_user AS (
         SELECT w.user_idx, count(r.item_idx) AS n_rows, count(DISTINCT r.item_idx) AS n_items,
                any_value(coalesce(c.n, 0)) AS n_consumed
         FROM wanted AS w
         LEFT JOIN written AS r ON r.user_idx = w.user_idx
         LEFT JOIN consumed AS c ON c.user_idx = w.user_idx
         GROUP BY w.user_idx)
SELECT
    (SELECT count(*) FROM written AS r JOIN {schema.INTERACTIONS_5CORE} AS i
        ON i.user_idx = r.user_idx AND i.item_idx = r.item_idx AND i.ts <= r.context_ts),
    (SELECT count(*) FROM per_user WHERE n_rows <> least($k, $n_items - n_consumed)),
    (SELECT count(*) FROM per_user WHERE n_items <> n_rows),
    (SELECT count(*) FROM written WHERE user_idx NOT IN (SELECT user_idx FROM wanted)),
    (SELECT count(*) FROM written),
    (SELECT count(*) FROM per_user)
"""


@dataclass(frozen=True, eq=False)
class Recommendations:
    """Top-K rows of some users at one moment, user by user, best first."""

    user_idx: np.ndarray  # int32 [R]
    rank: np.ndarray  # int16 [R], 1-based
    item_idx: np.ndarray  # int32 [R]
    score: np.ndarray  # float32 [R]
    alpha: np.ndarray | None  # float32 [R, 3], None without a gate
    context_ts: int
    users: int
    seconds: float
    peak_rss_mb: float  # the process's peak resident memory after scoring

    def metadata(self) -> dict[str, int | float]:
        return {
            "rows": len(self.user_idx),
            "users": self.users,
            "context_ts": self.context_ts,
            "seconds": round(self.seconds, 3),
            "users_per_s": round(self.users / self.seconds, 1) if self.seconds > 0 else 0.0,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }

    def arrow(self) -> pa.Table:
        alpha = self.alpha if self.alpha is not None else np.full((len(self.user_idx), 3), np.nan, np.float32)
        columns = {"user_idx": self.user_idx, "rank": self.rank, "item_idx": self.item_idx, "score": self.score}
        columns |= {name: pa.array(alpha[:, j], mask=np.isnan(alpha[:, j])) for j, name in enumerate(ALPHA_COLUMNS)}
        return pa.table(columns)


def recommend_users(
    model: Recommender,
    log: ConsumptionLog,
    context: ContextTables,
    users: torch.Tensor,
    *,
    k: int,
    at: int,
    max_history: int,
    user_chunk: int,
    item_chunk: int,
) -> Recommendations:
    """Each user's k best items not consumed by `at`, given the history and context at `at`."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    started = time.perf_counter()
    device = model_device(model)
    consumed = log.until(at)
    moment = context_at(context, at)
    parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
    with evaluating(model):
        for chunk, gaps in zip(users.split(user_chunk), log.since_last(users, at).split(user_chunk)):
            batch = query_batch(consumed, chunk, moment, max_history, gaps).to(device)
            best = top_k(model, model.encode_queries(batch), batch.context, excluded_pairs(consumed, chunk), k,
                         log.items.n_cols, item_chunk)
            parts.append((chunk, best.items.cpu(), best.scores.cpu(), None if best.alpha is None else best.alpha.cpu()))
    items = torch.cat([p[1] for p in parts]) if parts else torch.empty(0, k, dtype=torch.int64)
    scores = torch.cat([p[2] for p in parts]) if parts else torch.empty(0, k)
    kept = items >= 0  # [U, k]: fewer than k left for a user who consumed (nearly) everything
    row_user = users.unsqueeze(1).expand_as(items)[kept]
    rank = torch.arange(1, items.shape[1] + 1).expand_as(items)[kept]
    alpha = None
    if parts and parts[0][3] is not None:
        alpha = torch.cat([p[3] for p in parts]).unsqueeze(1).expand(-1, items.shape[1], -1)[kept].numpy()
    return Recommendations(
        user_idx=row_user.numpy().astype(np.int32),
        rank=rank.numpy().astype(np.int16),
        item_idx=items[kept].numpy().astype(np.int32),
        score=scores[kept].numpy().astype(np.float32),
        alpha=alpha,
        context_ts=at,
        users=int(users.numel()),
        seconds=time.perf_counter() - started,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def write_recommendations(con: duckdb.DuckDBPyConnection, variant: str, seed: int, recs: Recommendations) -> int:
    """Replace the (variant, seed) rows of `recommendations` in one transaction; returns rows written."""
    con.register(_ROWS, recs.arrow())
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE TABLE IF NOT EXISTS {RECOMMENDATIONS} {schema.ddl(RECOMMENDATIONS_COLUMNS)}")
            con.execute(f"DELETE FROM {RECOMMENDATIONS} WHERE variant = $variant AND seed = $seed",
                        {"variant": variant, "seed": seed})
            con.execute(_INSERT_SQL, {"variant": variant, "seed": seed, "context_ts": recs.context_ts})
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister(_ROWS)
    return len(recs.user_idx)


def check_recommendations(
    con: duckdb.DuckDBPyConnection, variant: str, seed: int, users: torch.Tensor, k: int, n_items: int, context_ts: int
) -> CheckOutcome:
    """No recommended item was consumed by context_ts; every wanted user got min(k, items left) distinct items."""
    params = {"users": users.tolist(), "variant": variant, "seed": seed, "k": k, "n_items": n_items, "context_ts": context_ts}
    consumed, wrong_count, duplicated, unexpected, rows, checked = con.execute(_CHECK_SQL, params).fetchall()[0]
    metadata = {
        "consumed_items_recommended": int(consumed),
        "users_with_wrong_count": int(wrong_count),
        "users_with_duplicate_items": int(duplicated),
        "rows_of_unwanted_users": int(unexpected),
        "rows": int(rows),
        "users_checked": int(checked),
    }
    problems = [f"{value} {name.replace('_', ' ')}" for name, value in metadata.items() if value and name not in ("rows", "users_checked")]
    return CheckOutcome(
        passed=not problems,
        severity="ERROR",
        description="; ".join(problems) if problems else f"{checked} users, each with min(k={k}, items left) unconsumed items",
        metadata=metadata,
    )
