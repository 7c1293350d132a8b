"""What a gate-regulariser study maximises besides accuracy: how evenly the gate spreads its mean weight."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

BalanceKind = Literal["entropy", "one_minus_max"]
BALANCE_KINDS: tuple[BalanceKind, ...] = ("entropy", "one_minus_max")


def normalised_entropy(alpha: tuple[float, ...] | np.ndarray) -> float:
    """H(α) / log K: 0 when one component takes all the weight, 1 for a uniform (1/K, ..., 1/K)."""
    weights = np.asarray(alpha, dtype=np.float64)
    positive = weights[weights > 0]
    return float(-(positive * np.log(positive)).sum() / math.log(len(weights)))


def gate_balance(alpha_mean: tuple[float, ...] | np.ndarray, kind: BalanceKind = "entropy") -> float:
    """Balance of a mean fusion-weight vector ᾱ: H(ᾱ)/log K ("entropy", in [0, 1]) or 1 − max ᾱ
    ("one_minus_max", in [0, 1 − 1/K]); both are 0 for a collapsed gate and largest for a uniform one."""
    if kind == "entropy":
        return normalised_entropy(alpha_mean)
    if kind == "one_minus_max":
        return 1.0 - float(np.max(alpha_mean))
    raise ValueError(f"unknown balance objective {kind!r}; valid: {', '.join(BALANCE_KINDS)}")
