"""Matrix factorisation trained with BPR (Rendle et al. 2009): score = u . v + b_item."""

from __future__ import annotations

import torch
from torch import nn

from hybridrec_ml.models.base import Recommender, Scores
from hybridrec_ml.models.users import UserEmbedding
from hybridrec_ml.tensors.batch import Batch


class BPRMF(Recommender):
    def __init__(self, n_users: int, n_items: int, dim: int, known_users: torch.Tensor | None = None) -> None:
        super().__init__()
        self.user_emb = UserEmbedding(n_users, dim, known_users)  # [n_users + 1, d], last row: unknown user
        self.item_emb = nn.Embedding(n_items, dim)  # [n_items, d]
        self.item_bias = nn.Parameter(torch.zeros(n_items))  # [n_items]
        # small init: with N(0, 1) the dot products of 64-d vectors start at a scale of 8
        nn.init.normal_(self.user_emb.weight, std=0.1)
        nn.init.normal_(self.item_emb.weight, std=0.1)

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        user = self.user_emb(batch.user)  # [B, d]
        item = self.item_emb(candidates)  # [B, C, d]
        return Scores((item @ user.unsqueeze(-1)).squeeze(-1) + self.item_bias[candidates], None)

    def score_all_items(self, batch: Batch) -> Scores:
        return Scores(self.user_emb(batch.user) @ self.item_emb.weight.T + self.item_bias, None)
