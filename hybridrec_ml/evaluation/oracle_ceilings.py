"""How much each kind of knowledge of the synthetic world is worth: NDCG@10 of the oracle family.

The Bayes oracle (planted mixture per context bucket), one oracle per mechanism (that mechanism's
distribution alone, redraw rules included) and the best context-free oracle (the fixed mixture
that ranks best on the evaluated rows: a grid over the simplex, searched on the very rows it is
scored on, so it is an optimistic bound for any context-free fusion). All through `evaluate_full`,
the protocol every model is scored with.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridrec_ml.config import ALL_COMPONENTS
from hybridrec_ml.data.bundle import InteractionSet, SparseRows
from hybridrec_ml.evaluation.protocols import evaluate_full
from hybridrec_ml.models.oracle import PlantedOracle


@dataclass(frozen=True)
class OracleCeilings:
    oracle: float  # full-ranking NDCG@10 of the context-aware Bayes oracle
    per_mechanism: dict[str, float]  # mechanism -> NDCG@10 of ranking by it alone
    context_free: float  # NDCG@10 of the best fixed mixture
    context_free_mixture: tuple[float, float, float]  # (static, dynamic, content) weights of that mixture

    @property
    def context_gain(self) -> float:
        """Relative NDCG@10 gain of knowing the context bucket: oracle / context_free - 1."""
        return self.oracle / self.context_free - 1.0


def oracle_ceilings(
    oracle: PlantedOracle, split: InteractionSet, train_items_by_user: SparseRows, n_items: int, *, grid_steps: int = 20
) -> OracleCeilings:
    """Full-ranking NDCG@10 of the oracle family on `split`; the simplex grid has step 1/grid_steps."""

    def ndcg(mixture: tuple[float, float, float] | None) -> float:
        return evaluate_full(oracle.remix(mixture), split, train_items_by_user, n_items).metrics["ndcg@10"]

    one_hot = {name: tuple(float(k == m) for k in range(len(ALL_COMPONENTS))) for m, name in enumerate(ALL_COMPONENTS)}
    grid = [
        (i / grid_steps, j / grid_steps, (grid_steps - i - j) / grid_steps)
        for i in range(grid_steps + 1)
        for j in range(grid_steps + 1 - i)
    ]
    scored = {mixture: ndcg(mixture) for mixture in grid}
    best = max(scored, key=scored.__getitem__)
    return OracleCeilings(
        oracle=ndcg(None),
        per_mechanism={name: scored[mixture] for name, mixture in one_hot.items()},
        context_free=scored[best],
        context_free_mixture=best,
    )
