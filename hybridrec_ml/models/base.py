"""The one interface every model implements (RecBole-style): trainer and evaluator never look inside.

A `Batch` carries the query side of B interactions (user, context, history); candidates are item
indices to score for each row. The same call serves training (positive + sampled negatives),
sampled evaluation (positive + 99 stored negatives) and full ranking (item chunks of the catalogue).
The model also owns its whole training loss (`calculate_loss`): the ranking loss plus whatever
regularisers it adds, so the trainer only backpropagates what it gets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hybridrec_ml.models.losses import LOSSES
from hybridrec_ml.tensors.batch import Batch


@dataclass(frozen=True)
class Scores:
    scores: torch.Tensor  # float32 [B, C]
    alpha: torch.Tensor | None  # float32 [B, 3] fusion weights (static, dynamic, content) or None


@dataclass(frozen=True)
class TrainingLoss:
    total: torch.Tensor  # what the optimiser minimises: ranking + sum(regularizers)
    ranking: torch.Tensor  # the ranking loss (BPR/BCE) alone, as reported per epoch
    regularizers: dict[str, torch.Tensor]  # each weighted term added to it (v2: entropy, balance)
    alpha: torch.Tensor | None  # the batch's fusion weights [B, 3], for monitoring the gate


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

    def calculate_loss(self, batch: Batch, candidates: torch.Tensor, ranking_loss: str) -> TrainingLoss:
        """The full training loss of a batch whose candidates [B, 1 + n] hold the positive first.

        `ranking_loss` names the loss in `LOSSES` ("bpr" or "bce", the variant's training setting).
        """
        out = self.score_candidates(batch, candidates)
        ranking = LOSSES[ranking_loss](out.scores[:, 0], out.scores[:, 1:])
        regularizers = self.auxiliary_loss(out.alpha)
        return TrainingLoss(ranking + sum(regularizers.values()), ranking, regularizers, out.alpha)

    def auxiliary_loss(self, alpha: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Weighted extra terms of `calculate_loss` from the batch's fusion weights (v2 regularisers); none by default."""
        return {}
