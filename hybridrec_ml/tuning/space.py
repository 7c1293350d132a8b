"""The (λ_ent, λ_bal, gate init std) search space over the v2 regularisers, and the settings it marks.

Each λ is log-uniform with 0 as a separate choice (a log scale cannot reach 0, and "off" is the
most interesting value); the gate's init std is log-uniform with PyTorch's default init as a
separate choice, so v1 (no regulariser, default init) is a point of the same space as v2.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hybridrec_ml.config import VARIANTS, VariantConfig

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class GateSetting:
    """One point of the space: the v2 regulariser weights and the gate output layer's init std."""

    entropy_lambda: float
    balance_lambda: float
    gate_init_std: float | None  # None: PyTorch's default Linear init

    @classmethod
    def of(cls, variant: VariantConfig) -> GateSetting:
        return cls(variant.entropy_lambda, variant.balance_lambda, variant.gate_init_std)

    def apply(self, base: VariantConfig, name: str) -> VariantConfig:
        """`base` (a registry variant) with this setting; nothing else changes."""
        return replace(
            base, name=name, description=f"{base.name} with {self.label()}", entropy_lambda=self.entropy_lambda,
            balance_lambda=self.balance_lambda, gate_init_std=self.gate_init_std,
        )  # fmt: skip

    def label(self) -> str:
        std = "default" if self.gate_init_std is None else f"{self.gate_init_std:.3g}"
        return f"λ_ent={self.entropy_lambda:.3g}, λ_bal={self.balance_lambda:.3g}, init std={std}"


# The study's v2 (reference README, "Fix (v2 training)"): λ_ent 0.05, λ_bal 0.01, gate output init std 0.01.
STUDY_SETTING = GateSetting(entropy_lambda=0.05, balance_lambda=0.01, gate_init_std=0.01)


def reference_settings() -> dict[str, GateSetting]:
    """Label -> setting of the points every study measures and the report marks: v1, v2 and the study's
    setting; labels of identical settings are joined ("v2 = study"), so each is trained once."""
    by_setting: dict[GateSetting, list[str]] = {}
    for label, setting in (
        ("v1", GateSetting.of(VARIANTS["v1"])), ("v2", GateSetting.of(VARIANTS["v2"])), ("study", STUDY_SETTING),
    ):  # fmt: skip
        by_setting.setdefault(setting, []).append(label)
    return {" = ".join(labels): setting for setting, labels in by_setting.items()}


@dataclass(frozen=True)
class SearchSpace:
    """Log-uniform ranges of the non-zero / non-default values. λ_bal multiplies ||ᾱ − 1/3||² ≤ 2/3, which
    is small next to a BPR loss of ~0.69, so its range reaches 10; −H(α) ≥ −log 3 needs at most 1."""

    entropy_lambda: tuple[float, float] = (1e-4, 1.0)
    balance_lambda: tuple[float, float] = (1e-4, 10.0)
    gate_init_std: tuple[float, float] = (1e-3, 1.0)

    def suggest(self, trial: optuna.Trial) -> GateSetting:
        entropy = 0.0 if trial.suggest_categorical("entropy_off", [True, False]) else trial.suggest_float(
            "entropy_lambda", *self.entropy_lambda, log=True
        )
        balance = 0.0 if trial.suggest_categorical("balance_off", [True, False]) else trial.suggest_float(
            "balance_lambda", *self.balance_lambda, log=True
        )
        std = None if trial.suggest_categorical("gate_init_default", [True, False]) else trial.suggest_float(
            "gate_init_std", *self.gate_init_std, log=True
        )
        return GateSetting(entropy, balance, std)

    def params(self, setting: GateSetting) -> dict[str, Any]:
        """The trial parameters `suggest` turns into `setting` (for enqueueing a fixed point)."""
        params: dict[str, Any] = {
            "entropy_off": setting.entropy_lambda == 0,
            "balance_off": setting.balance_lambda == 0,
            "gate_init_default": setting.gate_init_std is None,
        }
        if setting.entropy_lambda:
            params["entropy_lambda"] = setting.entropy_lambda
        if setting.balance_lambda:
            params["balance_lambda"] = setting.balance_lambda
        if setting.gate_init_std is not None:
            params["gate_init_std"] = setting.gate_init_std
        return params

    @staticmethod
    def setting_of(params: dict[str, Any]) -> GateSetting:
        """The setting a finished trial's parameters stand for."""
        return GateSetting(
            0.0 if params["entropy_off"] else float(params["entropy_lambda"]),
            0.0 if params["balance_off"] else float(params["balance_lambda"]),
            None if params["gate_init_default"] else float(params["gate_init_std"]),
        )
