"""SASRec (Kang & McAuley 2018): causal self-attention over the user's recent items.

x_t = e_{item_t} * sqrt(d) + p_t (learned positions), dropout, then `attention_blocks` pre-norm
Transformer blocks (self-attention + point-wise feed-forward of width d, ReLU, residuals, as
SASRec.pytorch) and a final LayerNorm. Position t attends to positions <= t only (`causal_mask`),
so the output after item t is the prediction for the next item. score(row, i) = state . e_i with
the input item embeddings (shared, as in the paper).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hybridrec_ml.config import ModelDims
from hybridrec_ml.models.baselines.sequential import SequentialRecommender
from hybridrec_ml.tensors.batch import SequenceChunks


def causal_mask(length: int, device: torch.device) -> torch.Tensor:
    """[T, T] bool, True where attention is forbidden: query t may not see key s > t."""
    return torch.triu(torch.ones(length, length, dtype=torch.bool, device=device), diagonal=1)


class SASRec(SequentialRecommender):
    def __init__(self, n_items: int, dims: ModelDims) -> None:
        super().__init__()
        d = dims.embedding_dim
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)  # item i at row i + 1; row 0 = padding
        self.position_emb = nn.Embedding(dims.max_history, d)
        self.dropout = nn.Dropout(dims.dropout)
        block = nn.TransformerEncoderLayer(
            d, dims.attention_heads, dim_feedforward=d, dropout=dims.dropout, activation="relu",
            batch_first=True, norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(block, dims.attention_blocks, norm=nn.LayerNorm(d), enable_nested_tensor=False)
        self.empty = nn.Parameter(torch.zeros(d))  # the state of a row without an earlier item
        nn.init.normal_(self.item_emb.weight, std=0.02)
        nn.init.normal_(self.position_emb.weight, std=0.02)
        self.scale = math.sqrt(d)

    def item_table(self) -> torch.Tensor:
        return self.item_emb.weight[1:]

    def empty_state(self) -> torch.Tensor:
        return self.empty

    def sequence_outputs(self, sequence: SequenceChunks) -> torch.Tensor:
        items = sequence.items  # [S, T], right-padded: a real position never attends to padding
        positions = torch.arange(items.shape[1], device=items.device)
        x = self.dropout(self.item_emb(items) * self.scale + self.position_emb(positions))
        x = x * (items > 0).unsqueeze(-1)
        return self.blocks(x, mask=causal_mask(items.shape[1], items.device))
