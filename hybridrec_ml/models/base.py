"""The one interface every model implements (RecBole-style): trainer and evaluator never look inside.

A `Batch` (hybridrec_ml.tensors) carries the query side of B interactions (user, context, history); candidates are item
indices to score for each row. The same call serves training (positive + sampled negatives),
sampled evaluation (positive + 99 stored negatives) and full ranking (item chunks of the catalogue).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hybridrec_ml.tensors.batch import Batch


@dataclass(frozen=True)
class Scores:
    scores: torch.Tensor  # float32 [B, C]
    alpha: torch.Tensor | None  # float32 [B, 3] fusion weights (static, dynamic, content) or None


class Recommender(nn.Module):
    """Base class: subclasses implement `score_candidates`; the rest has sensible defaults."""

    #: False for models with nothing to optimise (e.g. popularity): the trainer skips the loop.
    trainable: bool = True

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        """Scores for candidates [B, C] (item_idx) given each row's query side."""
        raise NotImplementedError

    def score_all_items(self, batch: Batch) -> Scores | None:
        """Optional fast path: scores against the whole catalogue [B, n_items], or None if absent."""
        return None

    def auxiliary_loss(self, alpha: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Extra loss terms computed from the batch's fusion weights (v2 regularisers); none by default."""
        return {}
