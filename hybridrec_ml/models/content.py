"""Content component: an MLP over the item's sparse TF-IDF row (the study's), optionally matched against a per-user taste."""

from __future__ import annotations

import math

import torch
from torch import nn

from hybridrec_ml.config import ModelDims
from hybridrec_ml.models.users import UserEmbedding
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.bundle import SparseRows


class ContentMLP(nn.Module):
    """h = p_u * c_i (`personalised`, HybridRec's: p_u a user embedding) or h = c_i (the study's, item side
    only), with c_i = MLP[vocab -> content_hidden... -> d](tfidf_i).

    Item-only, the linear head turns h into a per-item score shared by every user: a learned popularity prior.

    The first layer is `Linear(vocab, 512)` applied to a sparse row, i.e. the TF-IDF-weighted sum of
    weight rows: an EmbeddingBag with per-sample weights plus a bias, initialised like nn.Linear, so
    no dense items x vocab matrix ever exists. Items with no terms get the bias path only.
    """

    def __init__(
        self, n_users: int, tfidf: SparseRows, dims: ModelDims, known_users: torch.Tensor | None = None,
        personalised: bool = True,
    ) -> None:
        super().__init__()
        d, hidden = dims.embedding_dim, dims.content_hidden
        # the user's taste in content space (last row: unknown user); none in the study's item-only content
        self.user_emb = UserEmbedding(n_users, d, known_users) if personalised else None
        self.terms = nn.EmbeddingBag(tfidf.n_cols, hidden[0], mode="sum")  # [vocab, 512], no bias
        self.terms_bias = nn.Parameter(torch.empty(hidden[0]))
        bound = 1.0 / math.sqrt(tfidf.n_cols)
        nn.init.uniform_(self.terms.weight, -bound, bound)
        nn.init.uniform_(self.terms_bias, -bound, bound)
        widths = (*hidden, d)
        self.mlp = nn.Sequential(  # ReLU -> 512->256 -> ReLU -> 256->64
            *(layer for a, b in zip(widths, widths[1:]) for layer in (nn.ReLU(), nn.Linear(a, b)))
        )
        # the catalogue's TF-IDF rows travel with the module (device moves) but are data, not weights
        self.register_buffer("tfidf_ptr", tfidf.ptr, persistent=False)
        self.register_buffer("tfidf_term", tfidf.index, persistent=False)
        self.register_buffer("tfidf_weight", tfidf.weight, persistent=False)
        self.out_dim = d

    def row_side(self, batch: Batch) -> torch.Tensor:
        """[B, d] user taste, or [B, 0] for the item-only content"""
        if self.user_emb is None:
            return self.terms_bias.new_zeros(batch.user.shape[0], 0)
        return self.user_emb(batch.user)

    def item_side(self, items: torch.Tensor) -> torch.Tensor:
        """[N] item_idx -> content vectors c [N, d]"""
        start, end = self.tfidf_ptr[items], self.tfidf_ptr[items + 1]
        lengths = end - start
        offsets = torch.cumsum(lengths, 0) - lengths  # where each item's bag starts in the flat input
        positions = torch.repeat_interleave(start - offsets, lengths) + torch.arange(
            int(lengths.sum()), device=items.device
        )
        first = self.terms(
            self.tfidf_term[positions], offsets, per_sample_weights=self.tfidf_weight[positions]
        )  # [N, 512]
        return self.mlp(first + self.terms_bias)

    def combine(self, row: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """row [B, d] * item [B, C, d] -> h [B, C, d]; item-only: h = item (broadcast over rows later)"""
        return item if self.user_emb is None else row.unsqueeze(1) * item
