"""Popularity baseline: every user gets the items ranked by training interaction count."""

from __future__ import annotations

import torch

from hybridrec_ml.models.base import Recommender, Scores
from hybridrec_ml.tensors.batch import Batch


class Popularity(Recommender):
    trainable = False

    def __init__(self, item_train_count: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("popularity", item_train_count.to(torch.float32))  # [n_items]

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        return Scores(self.popularity[candidates], None)

    def score_all_items(self, batch: Batch) -> Scores:
        # a copy, not an expanded view, so callers may mask seen items in place
        return Scores(self.popularity.expand(batch.user.shape[0], -1).clone(), None)
