"""The one interface every model implements (RecBole-style): trainer and evaluator never look inside.

A `Batch` carries the query side of B interactions (user, context, history); candidates are item
indices to score for each row. The same call serves training (positive + sampled negatives),
sampled evaluation (positive + 99 stored negatives) and full ranking (item chunks of the catalogue).
The model also owns its whole training loss (`calculate_loss`): the ranking loss plus whatever
regularisers it adds, so the trainer only backpropagates what it gets.

Scoring splits in two so that a server can cache the expensive query side: `encode_queries`
(user embeddings, GRU state: a function of the user and the history only, not of the context)
and `score_encoded` (fusion weights from the context, then the candidates). `score_candidates`
is exactly the two in sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hybridrec_ml.models.losses import LOSSES, catalogue_cross_entropy
from hybridrec_ml.tensors.batch import Batch


@dataclass(frozen=True)
class Scores:
    scores: torch.Tensor  # float32 [B, C]
    alpha: torch.Tensor | None  # float32 [B, 3] fusion weights (static, dynamic, content) or None
    # float32 [B, 3]: std over the scored items of each component's term in the fused sum (0 for an
    # absent component; evaluation.contributions turns it into effective shares); None when not measured
    component_spread: torch.Tensor | None = None


@dataclass(frozen=True)
class TrainingLoss:
    total: torch.Tensor  # what the optimiser minimises: ranking + sum(regularizers)
    ranking: torch.Tensor  # the ranking loss (BPR/BCE) alone, as reported per epoch
    regularizers: dict[str, torch.Tensor]  # each weighted term added to it (v2: entropy, balance)
    alpha: torch.Tensor | None  # the batch's fusion weights [B, 3], for monitoring the gate


# The query side of B rows without the context: name -> tensor [B, ...], e.g. {"static": [B, 64]}.
EncodedQueries = dict[str, torch.Tensor]


class Recommender(nn.Module):
    """Base class: subclasses implement `encode_queries` + `score_encoded` (or only `score_candidates`)."""

    #: False for models with nothing to optimise (e.g. popularity): the trainer skips the loop.
    trainable: bool = True
    #: True where `encode_queries` reads `Batch.since_previous`: a server must not reuse them at another moment.
    queries_depend_on_time: bool = False

    def encode_queries(self, batch: Batch) -> EncodedQueries:
        """The context-free query side of each row; by default the batch's own tensors (nothing precomputed)."""
        return {"user": batch.user, "history": batch.history, "history_len": batch.history_len}

    def score_encoded(self, queries: EncodedQueries, context: torch.Tensor, candidates: torch.Tensor) -> Scores:
        """Scores for candidates [B, C] (item_idx) given encoded queries and each row's context [B, context_dim]."""
        if type(self).score_candidates is Recommender.score_candidates:
            raise NotImplementedError(f"{type(self).__name__} implements neither score_encoded nor score_candidates")
        batch = Batch(queries["user"], context, queries["history"], queries["history_len"])
        return self.score_candidates(batch, candidates)

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        """Scores for candidates [B, C] (item_idx) given each row's query side."""
        return self.score_encoded(self.encode_queries(batch), batch.context, candidates)

    def score_item_range(self, queries: EncodedQueries, context: torch.Tensor, start: int, stop: int) -> Scores:
        """Scores [B, stop - start] against catalogue items start..stop-1, the same for every row.

        Models override it to read their item tables as slices instead of gathering a [B, C] index.
        """
        items = torch.arange(start, stop, device=context.device)
        return self.score_encoded(queries, context, items.expand(context.shape[0], -1))

    def catalogue_item_sides(self) -> dict[str, torch.Tensor]:
        """Item-side tensors [n_items, h] that scoring computes from the weights once per catalogue (none by default)."""
        return {}

    def restore_catalogue_item_sides(self, tables: dict[str, torch.Tensor]) -> None:
        """Adopt `catalogue_item_sides()` computed earlier for these exact weights (e.g. read from a cache)."""
        if tables:
            raise ValueError(f"{type(self).__name__} has no catalogue item sides, got {sorted(tables)}")

    def score_all_items(self, batch: Batch) -> Scores | None:
        """Optional fast path: scores against the whole catalogue [B, n_items], or None if absent."""
        return None

    def calculate_loss(self, batch: Batch, candidates: torch.Tensor, ranking_loss: str) -> TrainingLoss:
        """The full training loss of a batch whose candidates [B, 1 + n] hold the positive first.

        `ranking_loss` names the loss in `LOSSES` ("bpr", "bce" or "softmax", the variant's training setting),
        or is "cross_entropy": the positive against the whole catalogue (`score_all_items`), other candidates unused.
        """
        if ranking_loss == "cross_entropy":
            out = self.score_all_items(batch)
            if out is None:
                raise ValueError(f"{type(self).__name__} has no score_all_items: it cannot train with cross_entropy")
            ranking = catalogue_cross_entropy(out.scores, candidates[:, 0])
        else:
            out = self.score_candidates(batch, candidates)
            ranking = LOSSES[ranking_loss](out.scores[:, 0], out.scores[:, 1:])
        regularizers = self.auxiliary_loss(out.alpha)
        return TrainingLoss(ranking + sum(regularizers.values()), ranking, regularizers, out.alpha)

    def auxiliary_loss(self, alpha: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Weighted extra terms of `calculate_loss` from the batch's fusion weights (v2 regularisers); none by default."""
        return {}

    def start_epoch(self, epoch: int) -> None:
        """Called by the trainer before training epoch `epoch` (1-based): for schedules such as a curriculum."""

    def epoch_diagnostics(self) -> dict[str, float]:
        """Means over the training batches since the last call (e.g. the gate's dynamics), then reset; none by default."""
        return {}
