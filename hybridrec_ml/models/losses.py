"""Ranking losses over one positive and n sampled negatives per row."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """mean over (row, negative) of -log sigmoid(s_pos - s_neg); positive [B], negative [B, n]."""
    return -F.logsigmoid(positive.unsqueeze(1) - negative).mean()


def bce_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with label 1 for positives and 0 for negatives, mean over all B * (1 + n) scores."""
    logits = torch.cat([positive, negative.flatten()])
    labels = torch.cat([torch.ones_like(positive), torch.zeros_like(negative.flatten())])
    return F.binary_cross_entropy_with_logits(logits, labels)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"bpr": bpr_loss, "bce": bce_loss}
