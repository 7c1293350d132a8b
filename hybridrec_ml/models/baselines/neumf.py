"""NeuMF (He et al. 2017): GMF and an MLP tower side by side, fused by one output layer.

score(u, i) = w . [p_u * q_i ; MLP([p'_u ; q'_i])] + b, trained pointwise (BCE on the logit) with
sampled negatives. The MLP's first layer is applied to the user and item halves separately and
summed, so scoring a catalogue block costs one [C, h] item product instead of a [B, C, 2d] input.
"""

from __future__ import annotations

import torch
from torch import nn

from hybridrec_ml.config import ModelDims
from hybridrec_ml.models.base import EncodedQueries, Recommender, Scores
from hybridrec_ml.models.users import UserEmbedding
from hybridrec_ml.tensors.batch import Batch


class NeuMF(Recommender):
    item_block = 256  # at most this many catalogue items per [B, C, h] block in `score_all_items`
    block_pairs = 1 << 15  # and at most about this many (user, item) pairs: the block stays cache-sized

    def __init__(self, n_users: int, n_items: int, dims: ModelDims, known_users: torch.Tensor | None = None) -> None:
        super().__init__()
        d, hidden = dims.embedding_dim, dims.ncf_hidden
        self.gmf_user = UserEmbedding(n_users, d, known_users)
        self.gmf_item = nn.Embedding(n_items, d)
        self.mlp_user = UserEmbedding(n_users, d, known_users)
        self.mlp_item = nn.Embedding(n_items, d)
        self.dropout = nn.Dropout(dims.dropout)
        self.first_user = nn.Linear(d, hidden[0])  # user half of Linear(2d -> h0); carries the bias
        self.first_item = nn.Linear(d, hidden[0], bias=False)
        self.tower = nn.Sequential(
            *(layer for h_in, h_out in zip(hidden, hidden[1:])
              for layer in (nn.Dropout(dims.dropout), nn.Linear(h_in, h_out), nn.ReLU()))
        )  # fmt: skip
        self.output = nn.Linear(d + hidden[-1], 1)
        for table in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
            nn.init.normal_(table.weight, std=0.01)  # RecBole's NeuMF initialisation

    def encode_queries(self, batch: Batch) -> EncodedQueries:
        return self._user_queries(batch.user)

    def _user_queries(self, users: torch.Tensor) -> EncodedQueries:
        return {"gmf": self.gmf_user(users), "mlp": self.first_user(self.dropout(self.mlp_user(users)))}

    def _scores(self, queries: EncodedQueries, gmf_item: torch.Tensor, mlp_item: torch.Tensor) -> torch.Tensor:
        """gmf_item [B or 1, C, d], mlp_item (first layer's item half) [B or 1, C, h0] -> scores [B, C]."""
        gmf = queries["gmf"].unsqueeze(1) * gmf_item  # [B, C, d]
        mlp = self.tower((queries["mlp"].unsqueeze(1) + mlp_item).relu())  # [B, C, h_last]
        w_gmf, w_mlp = self.output.weight[0].split([gmf.shape[-1], mlp.shape[-1]])
        return gmf @ w_gmf + mlp @ w_mlp + self.output.bias

    def score_encoded(self, queries: EncodedQueries, context: torch.Tensor, candidates: torch.Tensor) -> Scores:
        mlp_item = self.first_item(self.dropout(self.mlp_item(candidates)))
        return Scores(self._scores(queries, self.gmf_item(candidates), mlp_item), None)

    def score_item_range(self, queries: EncodedQueries, context: torch.Tensor, start: int, stop: int) -> Scores:
        mlp_item = self.first_item(self.dropout(self.mlp_item.weight[start:stop])).unsqueeze(0)
        return Scores(self._scores(queries, self.gmf_item.weight[start:stop].unsqueeze(0), mlp_item), None)

    def score_all_items(self, batch: Batch) -> Scores:
        """[B, n_items] in item blocks, each item's MLP input half computed once per block rather than once per row,
        and in eval mode each distinct user scored once (a row's scores depend on its user only)."""
        if self.training:  # dropout draws per row
            users, row_of_user = batch.user, torch.arange(batch.user.numel(), device=batch.user.device)
        else:
            users, row_of_user = torch.unique(batch.user, return_inverse=True)
        queries, n_items = self._user_queries(users), self.gmf_item.num_embeddings
        block = max(1, min(self.item_block, self.block_pairs // max(users.numel(), 1)))
        blocks = [self.score_item_range(queries, batch.context, start, min(start + block, n_items)).scores
                  for start in range(0, n_items, block)]  # fmt: skip
        return Scores(torch.cat(blocks, dim=1)[row_of_user], None)
