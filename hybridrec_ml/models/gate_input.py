"""What a hybrid's gate sees beyond the plain temporal context (issue 14's factors and the enriched gate).

Pure functions on batch tensors, so each has one definition and a test on hand-built numbers.
"""

from __future__ import annotations

import math

import torch

from hybridrec_ml.data.warehouse import schema

_HOUR_SIN = schema.CONTEXT_FEATURE_NAMES.index("hour_sin")
_HOUR_COS = schema.CONTEXT_FEATURE_NAMES.index("hour_cos")


def floor_context_to_day(context: torch.Tensor) -> torch.Tensor:
    """The features [N, 5] of the same interactions with their ts floored to the day (Amazon 2018's stamps).

    Flooring moves every stamp to second 0 of its day: hour 0 gives hour_sin 0 and hour_cos 1, and the
    day-of-week features do not change. So a day-granular variant needs no second dataset.
    """
    floored = context.clone()
    floored[:, _HOUR_SIN] = 0.0
    floored[:, _HOUR_COS] = 1.0
    return floored


def history_features(history: torch.Tensor, history_len: torch.Tensor, max_history: int) -> torch.Tensor:
    """[B, 2]: log1p(length) / log1p(max_history) and diversity = distinct items / length (0 when empty).

    `history` is the batch's padded per-row window (item_idx + 1, 0 = padding), at most max_history entries.
    """
    length = history_len.float()
    ordered = history.sort(dim=1).values
    first_of_run = torch.ones_like(ordered, dtype=torch.bool)
    first_of_run[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    distinct = (first_of_run & (ordered > 0)).sum(dim=1).float()
    diversity = torch.where(length > 0, distinct / length.clamp(min=1), torch.zeros_like(length))
    return torch.stack([torch.log1p(length) / math.log1p(max_history), diversity], dim=1)
