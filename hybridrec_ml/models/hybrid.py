"""The adaptive hybrid: static (NCF) + dynamic (GRU) + content (TF-IDF MLP), fused by a context gate.

    score = head(sum_k alpha_k h_k),  head = Linear(d -> 1)

Because the head is linear this equals b + sum_k alpha_k (w . h_k), which is how it is computed:
one [B, C] score per component, never a fused [B, C, d] tensor on top of the component outputs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hybridrec_ml.config import ALL_COMPONENTS, VariantConfig
from hybridrec_ml.models.base import Recommender, Scores
from hybridrec_ml.models.component import Component
from hybridrec_ml.models.content import ContentMLP
from hybridrec_ml.models.dynamic import DynamicGRU
from hybridrec_ml.models.gate import ContextGate
from hybridrec_ml.models.regularizers import load_balance, mean_negative_entropy
from hybridrec_ml.models.static import StaticNCF
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.bundle import SparseRows

# items per forward pass when the whole catalogue's item sides are computed for evaluation
CATALOGUE_CHUNK = 16384


class HybridRecommender(Recommender):
    """Components and fusion from the variant.

    gate='learned': alpha = ContextGate(context) over the present components.
    gate='uniform': alpha = 1/K for each of the K present components (exactly 1/3 with all three).
    gate='none'   : a single component with alpha = 1.
    Reported alpha is always [B, 3] in (static, dynamic, content) order, 0 for absent components.

    `known_users` [n_users] marks users with a training interaction; the others (cold users) go
    through the learned unknown-user row of the static and content embeddings (models/users.py),
    while the dynamic component reads their in-period history as for anyone.

    Each component meets `Component`: a row side (once per row: user embedding, GRU state), an item
    side (once per distinct candidate, or once for the whole catalogue in eval mode, cached until the
    next train() or load_state_dict) and a cheap combine over [B, C].
    """

    def __init__(
        self,
        variant: VariantConfig,
        n_users: int,
        n_items: int,
        tfidf: SparseRows,
        known_users: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        present = [name for name in ALL_COMPONENTS if name in variant.components]
        if not present or len(present) != len(variant.components):
            raise ValueError(f"components must be a non-empty subset of {ALL_COMPONENTS}: {variant.components}")
        if variant.gate == "none" and len(present) != 1:
            raise ValueError(f"gate 'none' needs exactly one component, got {present}")
        dims = variant.dims
        builders: dict[str, Callable[[], Component]] = {
            "static": lambda: StaticNCF(n_users, n_items, dims, known_users),
            "dynamic": lambda: DynamicGRU(n_items, dims),
            "content": lambda: ContentMLP(n_users, tfidf, dims, known_users),
        }
        self.components = nn.ModuleDict({name: builders[name]() for name in present})
        for name, component in self.components.items():
            if not isinstance(component, Component):
                raise TypeError(f"{name} does not implement the Component contract (row_side, item_side, combine)")
            if component.out_dim != dims.embedding_dim:
                raise ValueError(f"{name} outputs {component.out_dim} features, the head takes {dims.embedding_dim}")
        self.gate = (
            ContextGate(dims.context_dim, dims.gate_hidden, len(present), variant.gate_init_std)
            if variant.gate == "learned"
            else None
        )
        self.head = nn.Linear(dims.embedding_dim, 1)
        self.positions = [ALL_COMPONENTS.index(name) for name in present]
        self.entropy_lambda = variant.entropy_lambda
        self.balance_lambda = variant.balance_lambda
        self.n_items = n_items
        self._catalogue: dict[str, torch.Tensor] | None = None
        self.register_load_state_dict_post_hook(_forget_catalogue_after_load)

    def fusion_weights(self, context: torch.Tensor) -> torch.Tensor:
        """[B, K] weights over the present components."""
        if self.gate is not None:
            return self.gate(context)
        k = len(self.components)
        return torch.full((context.shape[0], k), 1.0 / k, device=context.device)

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        alpha = self.fusion_weights(batch.context)  # [B, K]
        items = self.item_sides(candidates)  # name -> [B, C, h]
        w = self.head.weight[0]  # [d]
        scores = self.head.bias
        for k, (name, component) in enumerate(self.components.items()):
            h = component.combine(component.row_side(batch), items[name])  # [B, C, d]
            scores = scores + alpha[:, k : k + 1] * (h @ w)
        full_alpha = alpha.new_zeros(alpha.shape[0], len(ALL_COMPONENTS))
        full_alpha[:, self.positions] = alpha
        return Scores(scores.float(), full_alpha.float())

    def item_sides(self, candidates: torch.Tensor) -> dict[str, torch.Tensor]:
        """Item side of every component for candidates [B, C] -> name -> [B, C, h]."""
        if not self.training:
            return {name: table[candidates] for name, table in self.catalogue_item_sides().items()}
        distinct, inverse = torch.unique(candidates, return_inverse=True)
        return {name: component.item_side(distinct)[inverse] for name, component in self.components.items()}

    def catalogue_item_sides(self) -> dict[str, torch.Tensor]:
        """Item sides for the whole catalogue in float32 (eval mode), computed once and cached."""
        device = self.head.weight.device
        if self._catalogue is None or next(iter(self._catalogue.values())).device != device:
            with torch.no_grad(), torch.autocast(device.type, enabled=False):
                chunks = torch.arange(self.n_items, device=device).split(CATALOGUE_CHUNK)
                self._catalogue = {
                    name: torch.cat([component.item_side(chunk) for chunk in chunks]).float()
                    for name, component in self.components.items()
                }
        return self._catalogue

    def clear_catalogue_cache(self) -> None:
        self._catalogue = None

    def train(self, mode: bool = True) -> HybridRecommender:
        self.clear_catalogue_cache()  # weights are about to change (or just did)
        return super().train(mode)

    def auxiliary_loss(self, alpha: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """v2 terms on the learned weights of the present components: lambda_ent * -H, lambda_bal * balance."""
        if self.gate is None or alpha is None:
            return {}
        present = alpha[:, self.positions]
        terms = {}
        if self.entropy_lambda:
            terms["entropy"] = self.entropy_lambda * mean_negative_entropy(present)
        if self.balance_lambda:
            terms["balance"] = self.balance_lambda * load_balance(present)
        return terms


def _forget_catalogue_after_load(module: HybridRecommender, _incompatible_keys: object) -> None:
    module.clear_catalogue_cache()
