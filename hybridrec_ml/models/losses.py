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


def softmax_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Sampled-softmax cross-entropy: mean over rows of -log(e^s_pos / (e^s_pos + sum_n e^s_neg)).

    With uniform negatives the log-sampling-probability correction is one constant per row, which
    cancels; it trains the positive against all n negatives at once rather than pair by pair.
    """
    logits = torch.cat([positive.unsqueeze(1), negative], dim=1)
    return -torch.log_softmax(logits, dim=1)[:, 0].mean()


def catalogue_cross_entropy(scores: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Full softmax cross-entropy: mean over rows of -log softmax(scores [B, n_items])[positive [B]].

    What RecBole's sequential models train with (loss_type "CE"): every other item is a negative.
    """
    return F.cross_entropy(scores.float(), positive)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "bpr": bpr_loss,
    "bce": bce_loss,
    "softmax": softmax_loss,
}
