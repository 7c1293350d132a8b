"""The project's own hybrid: what the diagnosis against the oracle supports (README, "Why v1 sits far
below the oracle").

Three components, each a dot product between a row vector and an item vector plus an item bias
(Rendle et al. 2020: a dot product, not an MLP over [row; item], is what learns user x item
affinities from little data):

    static   s_u(i) = p_u . q_i + b_i                     (taste: user and item embeddings)
    dynamic  s_h(i) = GRU(history) . e_i + b'_i           (next items of the recent ones)
    content  s_c(i) = t_u . MLP(tfidf_i) + b''_i          (the user's topics in text space)

fused as a mixture of softmaxes, with weights from the context gate:

    P(i | row) = sum_k alpha_k(context) softmax_k(i),  score = log P(i | row)

which is the form of the planted story (a mechanism drawn per context, then an item from it), so
alpha is comparable with the oracle's mixture per bucket. Trained with the sampled-softmax loss
(`losses.softmax_loss`): in training mode each softmax is normalised over the row's candidates
(positive + sampled negatives), in eval mode over the whole catalogue.
"""

from __future__ import annotations

import torch
from torch import nn

from hybridrec_ml.config import ALL_COMPONENTS, VariantConfig
from hybridrec_ml.tensors.bundle import SparseRows
from hybridrec_ml.models.base import Recommender, Scores
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.models.content import ContentMLP
from hybridrec_ml.models.dynamic import DynamicGRU
from hybridrec_ml.models.gate import ContextGate
from hybridrec_ml.models.users import UserEmbedding


class _StaticMF(nn.Module):
    """p_u and q_i: the static component's row and item vectors."""

    def __init__(self, n_users: int, n_items: int, dim: int, known_users: torch.Tensor | None = None) -> None:
        super().__init__()
        self.user_emb = UserEmbedding(n_users, dim, known_users)  # last row: the unknown (cold) user
        self.item_emb = nn.Embedding(n_items, dim)
        nn.init.normal_(self.user_emb.weight, std=0.1)
        nn.init.normal_(self.item_emb.weight, std=0.1)

    def row_side(self, batch: Batch) -> torch.Tensor:
        return self.user_emb(batch.user)

    def item_side(self, items: torch.Tensor) -> torch.Tensor:
        return self.item_emb(items)


class HybridPlus(Recommender):
    """Dot-product components fused as a context-gated mixture of softmaxes (module docstring)."""

    def __init__(
        self, variant: VariantConfig, n_users: int, n_items: int, tfidf: SparseRows, known_users: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        if tuple(variant.components) != ALL_COMPONENTS or variant.gate != "learned":
            raise ValueError("hybrid_plus takes all three components and a learned gate")
        dims = variant.dims
        self.components = nn.ModuleDict(
            {
                "static": _StaticMF(n_users, n_items, dims.embedding_dim, known_users),
                "dynamic": DynamicGRU(n_items, dims),
                "content": ContentMLP(n_users, tfidf, dims, known_users),
            }
        )
        self.item_bias = nn.Parameter(torch.zeros(len(ALL_COMPONENTS), n_items))  # [K, n_items]
        self.gate = ContextGate(dims.context_dim, dims.gate_hidden, len(ALL_COMPONENTS), variant.gate_init_std)
        self.n_items = n_items

    def component_logits(self, batch: Batch, items: torch.Tensor) -> torch.Tensor:
        """[M] item_idx -> [K, B, M] logits s_k(i) = row_k . item_k(i) + bias_k(i)."""
        return torch.stack(
            [
                component.row_side(batch) @ component.item_side(items).T + self.item_bias[k, items]
                for k, component in enumerate(self.components.values())
            ]
        )

    def _log_mixture(self, batch: Batch, log_softmax: torch.Tensor) -> Scores:
        """log sum_k alpha_k softmax_k, from each component's log-softmax [K, B, C] over the C columns."""
        alpha = self.gate(batch.context)  # [B, K]
        log_alpha = torch.log(alpha.float().clamp_min(1e-12)).T.unsqueeze(2)  # [K, B, 1]
        return Scores(torch.logsumexp(log_alpha + log_softmax, dim=0), alpha.float())

    def score_all_items(self, batch: Batch) -> Scores:
        """log P(i | row) over the catalogue, and the spread of each softmax_k over it (the term alpha_k
        weights in P; ranking by P is ranking by log P). A softmax averages 1/n, so var = mean(p^2) - 1/n^2."""
        catalogue = torch.arange(self.n_items, device=batch.user.device)
        log_softmax = torch.log_softmax(self.component_logits(batch, catalogue).float(), dim=2)
        mixture = self._log_mixture(batch, log_softmax)
        second_moment = log_softmax.mul(2).exp_().mean(dim=2, dtype=torch.float64)  # mean of p^2 = exp(2 log p)
        spread = (second_moment - 1.0 / self.n_items**2).clamp(min=0).sqrt().float().T  # [B, K]
        return Scores(mixture.scores, mixture.alpha, spread)

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        if self.training:  # sampled softmax: normalised over the row's candidates
            distinct, inverse = torch.unique(candidates, return_inverse=True)
            logits = self.component_logits(batch, distinct)  # [K, B, M]
            candidate_logits = logits.gather(2, inverse.expand(logits.shape[0], -1, -1))
            return self._log_mixture(batch, torch.log_softmax(candidate_logits.float(), dim=2))
        everything = self.score_all_items(batch)
        return Scores(everything.scores.gather(1, candidates), everything.alpha)
