"""EASE^R (Steck 2019): a closed-form item-item model, fitted once on the training interactions.

    P = (X^T X + lambda I)^-1,   B = I - P diag(1 / diag(P))   (so diag(B) = 0),   score(u) = X_u B

with X the binary user x item training matrix. No epochs: the trainer treats it like popularity
(`trainable = False`, validated once). A user without a training interaction has X_u = 0 and
scores 0 everywhere (the paper has no cold-user rule).
"""

from __future__ import annotations

import torch

from hybridrec_ml.models.base import EncodedQueries, Recommender, Scores
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.bundle import SparseRows


def ease_weights(gram: torch.Tensor, l2: float) -> torch.Tensor:
    """B [n_items, n_items] from the Gram matrix X^T X, in float64 (the inverse of a large Gram loses digits in float32)."""
    precision = torch.linalg.inv(gram.to(torch.float64) + l2 * torch.eye(gram.shape[0], dtype=torch.float64))
    weights = -precision / torch.diagonal(precision).unsqueeze(0)
    weights.fill_diagonal_(0.0)
    return weights


class EASE(Recommender):
    trainable = False

    def __init__(self, train_items_by_user: SparseRows, n_items: int, l2: float) -> None:
        super().__init__()
        self.register_buffer("ptr", train_items_by_user.ptr, persistent=False)  # data, not weights
        self.register_buffer("items", train_items_by_user.index, persistent=False)
        owner = torch.repeat_interleave(torch.arange(train_items_by_user.n_rows), train_items_by_user.ptr.diff())
        matrix = torch.zeros(train_items_by_user.n_rows, n_items, dtype=torch.float64)
        matrix[owner, train_items_by_user.index] = 1.0
        self.register_buffer("weights", ease_weights(matrix.T @ matrix, l2).to(torch.float32))

    def user_rows(self, user: torch.Tensor) -> torch.Tensor:
        """X_u for each user of the batch, [B, n_items] (zero for a user the fit never saw)."""
        known = user < self.ptr.numel() - 1
        safe = torch.where(known, user, 0)
        length = torch.where(known, self.ptr[safe + 1] - self.ptr[safe], 0)
        row = torch.repeat_interleave(torch.arange(user.numel(), device=user.device), length)
        within = torch.arange(row.numel(), device=user.device) - (torch.cumsum(length, 0) - length)[row]
        rows = self.weights.new_zeros(user.numel(), self.weights.shape[0])
        rows[row, self.items[self.ptr[safe[row]] + within]] = 1.0
        return rows

    def encode_queries(self, batch: Batch) -> EncodedQueries:
        return {"user_items": self.user_rows(batch.user)}

    def score_encoded(self, queries: EncodedQueries, context: torch.Tensor, candidates: torch.Tensor) -> Scores:
        return Scores((queries["user_items"] @ self.weights).gather(1, candidates), None)

    def score_item_range(self, queries: EncodedQueries, context: torch.Tensor, start: int, stop: int) -> Scores:
        return Scores(queries["user_items"] @ self.weights[:, start:stop], None)

    def score_all_items(self, batch: Batch) -> Scores:
        return Scores(self.encode_queries(batch)["user_items"] @ self.weights, None)
