"""What lambda_pareto stores and the report reads: every completed trial as a point, the front, its test numbers.

Plain data (no optuna, no torch), so the report and the code location read it cheaply.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hybridrec_ml.atomic import atomic_write_text
from hybridrec_ml.tuning.space import GateSetting

# Test numbers kept per Pareto-optimal point (keys of VariantEvaluation.metadata), the primary one first.
TEST_METRICS: tuple[str, ...] = (
    "test_full_all_ndcg_at_10", "test_full_all_recall_at_10", "test_full_warm_ndcg_at_10", "test_per_user_all_ndcg_at_10",
    "test_alpha_static", "test_alpha_dynamic", "test_alpha_content", "users_all",
)  # fmt: skip


@dataclass(frozen=True)
class TrialPoint:
    number: int
    setting: GateSetting
    val_ndcg_at_10: float
    gate_balance: float
    alpha_mean: tuple[float, ...]  # training rows, best epoch
    reference: str | None  # "v1", "v2 = study", ...: an enqueued reference setting
    pareto: bool
    mlflow_run_id: str | None = None
    test: dict[str, float] | None = None  # Pareto-optimal points only: TEST_METRICS and the user-level 95% CI


@dataclass(frozen=True)
class ParetoOutcome:
    """What lambda_pareto stores: the study, the settings it was run with, and every point."""

    study_name: str
    storage_url: str
    base_variant: str
    balance: str
    trials_run_now: list[int]
    points: list[TrialPoint]

    @property
    def front(self) -> list[TrialPoint]:
        return sorted((p for p in self.points if p.pareto), key=lambda p: p.gate_balance)

    def metadata_numbers(self) -> dict[str, float | int]:
        """Counts, each reference point's objectives, and the test NDCG@10 of the front's two ends (chosen on validation)."""
        numbers: dict[str, float | int] = {
            "trials_completed": len(self.points), "trials_run_now": len(self.trials_run_now), "front_size": len(self.front),
        }  # fmt: skip
        for point in self.points:
            if point.reference:
                key = "_".join(point.reference.replace("=", " ").split())
                numbers |= {f"{key}_val_ndcg_at_10": point.val_ndcg_at_10, f"{key}_gate_balance": point.gate_balance}
        ends = {"most_balanced": self.front[-1:], "most_accurate": sorted(self.front, key=lambda p: p.val_ndcg_at_10)[-1:]}
        for end, chosen in ends.items():
            if chosen and chosen[0].test:
                numbers[f"{end}_test_ndcg_at_10"] = chosen[0].test["test_full_all_ndcg_at_10"]
        return numbers

    def frame(self) -> pd.DataFrame:
        """One row per point: trial, λ_ent, λ_bal, init std (NaN = default), objectives, reference, pareto, test NDCG@10."""
        rows = [
            {
                "trial": p.number, "entropy_lambda": p.setting.entropy_lambda, "balance_lambda": p.setting.balance_lambda,
                "gate_init_std": np.nan if p.setting.gate_init_std is None else p.setting.gate_init_std,
                "val_ndcg_at_10": p.val_ndcg_at_10, "gate_balance": p.gate_balance, "reference": p.reference or "",
                "pareto": p.pareto, "test_ndcg_at_10": (p.test or {}).get("test_full_all_ndcg_at_10", np.nan),
            }  # fmt: skip
            for p in self.points
        ]
        return pd.DataFrame(rows, columns=[
            "trial", "entropy_lambda", "balance_lambda", "gate_init_std", "val_ndcg_at_10", "gate_balance", "reference",
            "pareto", "test_ndcg_at_10",
        ])  # fmt: skip

    def save(self, path: Path) -> Path:
        return atomic_write_text(path, json.dumps(asdict(self), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> ParetoOutcome:
        raw: dict[str, Any] = json.loads(path.read_text())
        points = [
            TrialPoint(**(p | {"setting": GateSetting(**p["setting"]), "alpha_mean": tuple(p["alpha_mean"])}))
            for p in raw.pop("points")
        ]
        return cls(**raw, points=points)
