"""How much each kind of knowledge of the synthetic world is worth: NDCG@10 of the oracle family.

The Bayes oracle (planted mixture per context bucket), one oracle per mechanism (that mechanism's
distribution alone, redraw rules included), the best context-free oracle (the fixed mixture that
ranks best on the evaluated rows) and the oracle-optimal fusion per context bucket (the fixed
mixture that ranks best on that bucket's rows: what an ideal gate that sees only the bucket would
output). Mixtures are searched on a grid over the simplex, on the very rows they are scored on, so
the context-free figure is an optimistic bound for any context-free fusion. Everything goes
through `evaluate_full` with the history mask, the protocol every model is scored with, and
overall figures are means over users like the main table's (per bucket: means over the bucket's rows).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hybridrec_ml.atomic import atomic_write_text
from hybridrec_ml.config import ALL_COMPONENTS
from hybridrec_ml.tensors.bundle import InteractionSet, UserTimeline
from hybridrec_ml.data.transforms.context_buckets import CONTEXT_BUCKETS
from hybridrec_ml.evaluation.metrics import ndcg_at_k
from hybridrec_ml.evaluation.protocols import evaluate_full
from hybridrec_ml.models.oracle import PlantedOracle, planted_mixture

Mixture = tuple[float, float, float]


@dataclass(frozen=True)
class BucketFusion:
    bucket: str
    n_rows: int
    planted: Mixture  # the generator's mixture in this bucket
    optimal: Mixture  # the fixed fusion of the per-mechanism oracles that ranks best on this bucket's rows
    optimal_ndcg_at_10: float


@dataclass(frozen=True)
class OracleCeilings:
    oracle: float  # full-ranking NDCG@10 of the context-aware Bayes oracle
    per_mechanism: dict[str, float]  # mechanism -> NDCG@10 of ranking by it alone
    context_free: float  # NDCG@10 of the best fixed mixture
    context_free_mixture: Mixture  # (static, dynamic, content) weights of that mixture
    fusion_by_bucket: tuple[BucketFusion, ...]

    @property
    def context_gain(self) -> float:
        """Relative NDCG@10 gain of knowing the context bucket: oracle / context_free - 1."""
        return self.oracle / self.context_free - 1.0

    def save(self, path: Path) -> Path:
        """JSON, written atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> OracleCeilings:
        raw = json.loads(path.read_text())
        raw["context_free_mixture"] = tuple(raw["context_free_mixture"])
        raw["fusion_by_bucket"] = tuple(
            BucketFusion(**(b | {"planted": tuple(b["planted"]), "optimal": tuple(b["optimal"])}))
            for b in raw["fusion_by_bucket"]
        )
        return cls(**raw)


def simplex_grid(steps: int) -> list[Mixture]:
    """Every (static, dynamic, content) mixture with weights in multiples of 1/steps."""
    return [(i / steps, j / steps, (steps - i - j) / steps) for i in range(steps + 1) for j in range(steps + 1 - i)]


def oracle_ceilings(
    oracle: PlantedOracle, split: InteractionSet, seen: UserTimeline, n_items: int, *, grid_steps: int = 10
) -> OracleCeilings:
    """The oracle family's full-ranking NDCG@10 on `split`; the simplex grid has step 1/grid_steps."""

    def per_row_ndcg(mixture: Mixture | None) -> np.ndarray:
        return ndcg_at_k(evaluate_full(oracle.remix(mixture), split, seen, n_items).ranks, 10)

    grid = simplex_grid(grid_steps)
    one_hot = {name: tuple(float(k == m) for k in range(len(ALL_COMPONENTS))) for m, name in enumerate(ALL_COMPONENTS)}
    mixtures = list(dict.fromkeys([*grid, *one_hot.values()]))
    ndcg = np.stack([per_row_ndcg(mixture) for mixture in mixtures])  # [mixtures, rows]
    _, owner, rows_of_user = np.unique(split.user.numpy(), return_inverse=True, return_counts=True)
    user_weight = 1.0 / (rows_of_user[owner] * len(rows_of_user))  # each user weighs once, as in the main table
    overall = ndcg[: len(grid)] @ user_weight
    best = int(np.argmax(overall))
    bucket = oracle.true_buckets(split)
    planted = planted_mixture(oracle.truth)
    fusion = []
    for b, name in enumerate(CONTEXT_BUCKETS):
        rows = bucket == b
        if not rows.any():
            continue
        in_bucket = ndcg[: len(grid), rows].mean(axis=1)
        top = int(np.argmax(in_bucket))
        fusion.append(BucketFusion(name, int(rows.sum()), tuple(map(float, planted[b])), grid[top], float(in_bucket[top])))
    return OracleCeilings(
        oracle=float(per_row_ndcg(None) @ user_weight),
        per_mechanism={name: float(ndcg[mixtures.index(m)] @ user_weight) for name, m in one_hot.items()},
        context_free=float(overall[best]),
        context_free_mixture=grid[best],
        fusion_by_bucket=tuple(fusion),
    )
