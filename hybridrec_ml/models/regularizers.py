"""Anti-collapse regularisers on the gate's fusion weights (the study's v2 fix)."""

from __future__ import annotations

import torch


def mean_negative_entropy(alpha: torch.Tensor) -> torch.Tensor:
    """-H(alpha) averaged over rows: mean_rows sum_k alpha_k log alpha_k (-log K at uniform, 0 at one-hot).

    Adding lambda times this to the loss rewards spread-out weights in every row.
    """
    return torch.special.xlogy(alpha, alpha).sum(dim=-1).mean()


def load_balance(alpha: torch.Tensor) -> torch.Tensor:
    """||mean_rows(alpha) - 1/K||^2: zero when every component gets the same share on average."""
    return (alpha.mean(dim=0) - 1.0 / alpha.shape[-1]).square().sum()
