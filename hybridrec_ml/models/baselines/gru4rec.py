"""GRU4Rec (Hidasi et al. 2016; cross-entropy as in Hidasi & Karatzoglou 2018 and RecBole).

state(row) = Linear(hidden -> d)(GRU(e_history)[last]); score(row, i) = state . e_i, with the same
item embeddings as the GRU input (RecBole's GRU4Rec). Trained as a sequential model: every training
row is one next-item prediction, its GRU state read from one pass per user-sequence chunk.
"""

from __future__ import annotations

import torch
from torch import nn

from hybridrec_ml.config import ModelDims
from hybridrec_ml.models.baselines.sequential import SequentialRecommender
from hybridrec_ml.models.dynamic import SequenceGRU
from hybridrec_ml.tensors.batch import SequenceChunks


class GRU4Rec(SequentialRecommender):
    def __init__(self, n_items: int, dims: ModelDims) -> None:
        super().__init__()
        self.encoder = SequenceGRU(n_items, dims.embedding_dim, dims.gru_hidden, dims.gru_layers)
        self.dense = nn.Linear(dims.gru_hidden, dims.embedding_dim)

    def item_table(self) -> torch.Tensor:
        return self.encoder.item_emb.weight[1:]  # row 0 is the padding item

    def sequence_outputs(self, sequence: SequenceChunks) -> torch.Tensor:
        run = self.encoder.outputs_packed if sequence.items.is_cuda else self.encoder.outputs_stepwise
        return self.dense(run(sequence.items, sequence.lengths))

    def empty_state(self) -> torch.Tensor:
        return self.dense.bias  # dense(zero GRU state)
