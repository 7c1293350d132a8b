"""User embeddings with a learned row for users the model never trained on (cold users).

A user without a training interaction would otherwise be scored through its own row, which
training never touched: a random vector. Every such user is looked up at row `n_users`, the
unknown user, instead. The trainer trains that row by replacing a fraction of training user ids
with `n_users` (`TrainConfig.user_dropout`), so it learns what fits a user the model knows
nothing about (in effect a popularity-like taste).
"""

from __future__ import annotations

import torch
from torch import nn


class UserEmbedding(nn.Embedding):
    """nn.Embedding(n_users + 1, dim); row n_users is the unknown user, used for every user not in `known`."""

    def __init__(self, n_users: int, dim: int, known: torch.Tensor | None = None) -> None:
        super().__init__(n_users + 1, dim)
        known = torch.ones(n_users, dtype=torch.bool) if known is None else known.to(torch.bool)
        if known.numel() != n_users:
            raise ValueError(f"known covers {known.numel()} users, expected {n_users}")
        # data, not weights: it travels with the module but stays out of the state dict
        self.register_buffer("known", torch.cat([known, known.new_zeros(1)]), persistent=False)
        self.unknown = n_users

    def forward(self, user: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.where(self.known[user], user, self.unknown))
