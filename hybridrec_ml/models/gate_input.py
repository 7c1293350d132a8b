"""What a hybrid's gate sees beyond the plain temporal context (issue 14's factors and the enriched gate).

Pure functions on batch tensors, so each has one definition and a test on hand-built numbers. The
enriched gate's history statistics read the items the row's query holds (its per-row window, or on
the chunk path what its GRU state has read): the same items whenever the two paths coincide.
"""

from __future__ import annotations

import math

import torch

from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.tensors.batch import Batch, SequenceChunks

_HOUR_SIN = schema.CONTEXT_FEATURE_NAMES.index("hour_sin")
_HOUR_COS = schema.CONTEXT_FEATURE_NAMES.index("hour_cos")
DAY_SECONDS = 86_400
RECENCY_SCALE_DAYS = 365  # a gap of a year maps to 1, so the feature sits on the scale of the others
HISTORY_GATE_INPUTS = 3  # length, diversity, recency


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


def recency_feature(since_previous: torch.Tensor) -> torch.Tensor:
    """[B]: log1p(days since the user's previous interaction) / log1p(365); 0 without one (length 0 says so).

    A log scale because gaps run from seconds to years; `since_previous` comes from the row's own
    timestamp and the previous one only, so it carries nothing from the row's future.
    """
    days = since_previous.clamp(min=0).double() / DAY_SECONDS
    return (torch.log1p(days) / math.log1p(RECENCY_SCALE_DAYS)).float()


def chunk_windows(sequence: SequenceChunks) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, T] the items each row's GRU state has read on the chunk path (item_idx + 1, 0 = padding) and [B] their count.

    Row b's state is output t of chunk s with state_at[b] = s * T + t, after the chunk's first t + 1 items.
    """
    items, state_at = sequence.items, sequence.state_at
    width = items.shape[1]
    if width == 0:  # every row of the batch has an empty history
        return items.new_zeros(state_at.numel(), 0), torch.zeros_like(state_at)
    has_history = state_at >= 0
    chunk = torch.where(has_history, state_at // width, 0)
    length = torch.where(has_history, state_at % width + 1, 0)
    seen = torch.arange(width, device=items.device) < length.unsqueeze(1)
    return torch.where(seen, items[chunk], 0), length


def gate_history_input(batch: Batch, max_history: int) -> torch.Tensor:
    """[B, 3]: history length, diversity and recency of each row, on whichever history path the batch is."""
    if batch.since_previous is None:
        raise ValueError("the enriched gate needs each row's time since the previous interaction (Batch.since_previous)")
    history, length = chunk_windows(batch.sequence) if batch.sequence is not None else (batch.history, batch.history_len)
    return torch.cat([history_features(history, length, max_history), recency_feature(batch.since_previous).unsqueeze(1)], dim=1)
