"""Static component (NCF): long-term user preference from user and item embeddings through an MLP."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hybridrec_ml.config import ModelDims
from hybridrec_ml.models.users import UserEmbedding
from hybridrec_ml.tensors.batch import Batch


class StaticNCF(nn.Module):
    """h = MLP([u; v]) with MLP[2d -> ncf_hidden...] (ReLU after every layer).

    The first layer over the concatenation is split, W [u; v] + b = (W_u u + b) + W_v v, so the user
    half runs once per row and the item half once per distinct item, whatever the candidate count.
    """

    def __init__(self, n_users: int, n_items: int, dims: ModelDims, known_users: torch.Tensor | None = None) -> None:
        super().__init__()
        d, hidden = dims.embedding_dim, dims.ncf_hidden
        self.user_emb = UserEmbedding(n_users, d, known_users)  # [n_users + 1, d], last row: unknown user
        self.item_emb = nn.Embedding(n_items, d)  # [n_items, d]
        self.user_in = nn.Linear(d, hidden[0])  # user half of Linear(2d -> hidden[0]); carries the bias
        self.item_in = nn.Linear(d, hidden[0], bias=False)  # item half
        self.mlp = nn.Sequential(*(nn.Sequential(nn.Linear(a, b), nn.ReLU()) for a, b in zip(hidden, hidden[1:])))
        self.out_dim = hidden[-1]

    def row_side(self, batch: Batch) -> torch.Tensor:
        """[B, hidden[0]]"""
        return self.user_in(self.user_emb(batch.user))

    def item_side(self, items: torch.Tensor) -> torch.Tensor:
        """[N] item_idx -> [N, hidden[0]]"""
        return self.item_in(self.item_emb(items))

    def combine(self, row: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """row [B, hidden[0]] + item [B, C, hidden[0]] -> h [B, C, out_dim]"""
        return self.mlp(F.relu(row.unsqueeze(1) + item))
