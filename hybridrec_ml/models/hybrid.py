"""The adaptive hybrid: static (NCF) + dynamic (GRU) + content (TF-IDF MLP), fused by a context gate.

    score = head(sum_k alpha_k h_k),  head = Linear(d -> 1)

Because the head is linear this equals b + sum_k alpha_k (w . h_k), which is how it is computed:
one [B, C] score per component, never a fused [B, C, d] tensor on top of the component outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from hybridrec_ml.config import ALL_COMPONENTS, VariantConfig
from hybridrec_ml.models.base import EncodedQueries, Recommender, Scores, TrainingLoss
from hybridrec_ml.models.component import Component
from hybridrec_ml.models.content import ContentMLP
from hybridrec_ml.models.dynamic import DynamicGRU
from hybridrec_ml.models.gate import ContextGate
from hybridrec_ml.models.gate_fixes import balance_bias_step, z_loss
from hybridrec_ml.models.gate_input import HISTORY_GATE_INPUTS, floor_context_to_day, gate_history_input
from hybridrec_ml.models.losses import LOSSES
from hybridrec_ml.models.regularizers import load_balance, mean_negative_entropy
from hybridrec_ml.models.static import StaticNCF
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.bundle import SparseRows

# items per forward pass when the whole catalogue's item sides are computed for evaluation
CATALOGUE_CHUNK = 16384
# (row, item) pairs per block when rows are scored against the whole catalogue: the [rows, items, d]
# intermediates stay cache-sized on a CPU (128 rows x 256 items) and fill a GPU
CATALOGUE_BLOCK_PAIRS = {"cpu": 1 << 15, "cuda": 1 << 22}
GATE_HISTORY = "gate_history"  # the encoded query holding the enriched gate's history length, diversity, recency


def without_component(alpha: torch.Tensor, k: int) -> torch.Tensor:
    """α [B, K] with component k removed and the rest renormalised to sum to 1 (rows with α_k = 1 become 0)."""
    kept = alpha.clone()
    kept[:, k] = 0
    total = kept.sum(dim=1, keepdim=True)
    return torch.where(total > 0, kept / total.clamp(min=torch.finfo(kept.dtype).tiny), kept)


@dataclass(frozen=True)
class ComponentScores:
    """The parts of a fused score: score = bias + sum_k alpha[:, k] * scores[:, :, k]."""

    alpha: torch.Tensor  # [B, K] weights over the present components
    logits: torch.Tensor | None  # [B, K] gate logits (None without a learned gate)
    scores: torch.Tensor  # [B, C, K] each present component's score w . h_k (standardised with normalise_scores)
    bias: torch.Tensor  # [] the head's bias

    def fused(self, alpha: torch.Tensor | None = None) -> torch.Tensor:
        """[B, C] fused scores, with the gate's alpha or the given one."""
        weights = self.alpha if alpha is None else alpha
        return self.bias + (self.scores * weights.unsqueeze(1)).sum(dim=-1)


class HybridRecommender(Recommender):
    """Components and fusion from the variant.

    gate='learned': alpha = ContextGate(context) over the present components (the context floored to
                    the day for context_granularity='day'; history length, diversity and
                    recency appended for gate_history_features; noisy top-k / loss-free bias as the variant says).
    gate='uniform': alpha = 1/K for each of the K present components (exactly 1/3 with all three).
    gate='none'   : a single component with alpha = 1.
    Reported alpha is always [B, 3] in (static, dynamic, content) order, 0 for absent components.

    `known_users` [n_users] marks users with a training interaction; the others (cold users) go
    through the learned unknown-user row of the static and content embeddings (models/users.py),
    while the dynamic component reads their in-period history as for anyone.

    Each component meets `Component`: a row side (once per row: user embedding, GRU state), an item
    side (once per distinct candidate, or once for the whole catalogue in eval mode, cached until the
    next train() or load_state_dict) and a cheap combine over [B, C].

    Training also records the gate's dynamics per epoch (`epoch_diagnostics`, issue 14) and runs a
    curriculum's solo phase (`start_epoch`).
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
        personalised = variant.architecture == "personalised"
        builders: dict[str, Callable[[], Component]] = {
            "static": lambda: StaticNCF(n_users, n_items, dims, known_users),
            "dynamic": lambda: DynamicGRU(n_items, dims),
            "content": lambda: ContentMLP(n_users, tfidf, dims, known_users, personalised=personalised),
        }
        self.components = nn.ModuleDict({name: builders[name]() for name in present})
        for name, component in self.components.items():
            if not isinstance(component, Component):
                raise TypeError(f"{name} does not implement the Component contract (row_side, item_side, combine)")
            if component.out_dim != dims.embedding_dim:
                raise ValueError(f"{name} outputs {component.out_dim} features, the head takes {dims.embedding_dim}")
        if variant.gate_history_features and variant.context_granularity == "day":
            raise ValueError("gate_history_features with a day-floored context: recency would read the seconds the gate must not see")
        gate_input_dim = dims.context_dim + (HISTORY_GATE_INPUTS if variant.gate_history_features else 0)
        self.gate = (
            ContextGate(
                gate_input_dim, dims.gate_hidden, len(present), variant.gate_init_std,
                top_k=variant.gate_top_k, balance_bias=variant.balance_bias_rate > 0,
            )
            if variant.gate == "learned"
            else None
        )  # fmt: skip
        self.head = nn.Linear(dims.embedding_dim, 1)
        # standardises each component's score (batch statistics in training, running ones in eval)
        self.score_norm = nn.BatchNorm1d(len(present), affine=False) if variant.normalise_scores else None
        self.positions = [ALL_COMPONENTS.index(name) for name in present]
        self.entropy_lambda = variant.entropy_lambda
        self.balance_lambda = variant.balance_lambda
        self.z_loss_lambda = variant.z_loss_lambda
        self.balance_bias_rate = variant.balance_bias_rate
        self.day_context = variant.context_granularity == "day"
        self.history_gate_input = variant.gate_history_features
        self.queries_depend_on_time = variant.gate_history_features  # the gate's recency
        self.max_history = dims.max_history
        self.curriculum_epochs = variant.curriculum_epochs
        self.solo_phase = False  # curriculum: each component trains alone, the gate gets no gradient
        self._diagnostics: dict[str, torch.Tensor] = {}
        self._diagnostic_batches = 0
        self._dropped: int | None = None  # `dropping`: a component removed from the fusion at inference
        self.n_items = n_items
        self._catalogue: dict[str, torch.Tensor] | None = None
        self.register_load_state_dict_post_hook(_forget_catalogue_after_load)

    def encode_queries(self, batch: Batch) -> EncodedQueries:
        """Each component's row side (user embedding, GRU state), plus the enriched gate's history
        statistics (context-free; recency depends on the row's moment, see `queries_depend_on_time`)."""
        queries = {name: component.row_side(batch) for name, component in self.components.items()}
        if self.history_gate_input:
            queries[GATE_HISTORY] = gate_history_input(batch, self.max_history)
        return queries

    def gate_logits(self, queries: EncodedQueries, context: torch.Tensor) -> torch.Tensor | None:
        """[B, K] logits of the learned gate on what it sees (None without one)."""
        if self.gate is None:
            return None
        x = floor_context_to_day(context) if self.day_context else context
        if self.history_gate_input:
            x = torch.cat([x, queries[GATE_HISTORY].to(x.dtype)], dim=1)
        return self.gate.logits(x)

    def fusion_weights(self, context: torch.Tensor, queries: EncodedQueries | None = None) -> torch.Tensor:
        """[B, K] weights over the present components: the gate's on what it sees (`queries` carry the
        enriched gate's history statistics), or 1/K each."""
        return self._weights(self.gate_logits(queries or {}, context), context)

    def _weights(self, logits: torch.Tensor | None, context: torch.Tensor) -> torch.Tensor:
        if self.gate is not None and logits is not None:
            weights = self.gate.weights(logits)
        else:
            k = len(self.components)
            weights = torch.full((context.shape[0], k), 1.0 / k, device=context.device)
        return weights if self._dropped is None else without_component(weights, self._dropped)

    @contextmanager
    def dropping(self, k: int) -> Iterator[None]:
        """Score with present component k removed and the gate renormalised over the others (α_j / (1 − α_k)),
        on every scoring path, for the block: what the ranking owed to k (the diagnosis's drop test)."""
        if not 0 <= k < len(self.components):
            raise ValueError(f"no present component {k}: this model fuses {list(self.components)}")
        if self.training:
            raise RuntimeError("dropping a component is an inference-time test: call eval() first")
        self._dropped = k
        try:
            yield
        finally:
            self._dropped = None

    def _per_component(
        self,
        queries: EncodedQueries,
        items: dict[str, torch.Tensor],
        n_rows: int,
        distinct: dict[str, tuple[torch.Tensor, torch.Tensor] | None] | None = None,
    ) -> torch.Tensor:
        """[B, C, K] each component's head score w . h_k (items [B or 1, C, h]), standardised if asked.

        `distinct[name]` = (distinct row sides, row -> its distinct one): the component combines
        only the distinct rows (items must then be [1, C, h], shared by all rows).
        """
        w = self.head.weight[0]  # [d]
        scores = []
        for name, component in self.components.items():
            rows = (distinct or {}).get(name)
            if rows is None:
                scores.append(component.combine(queries[name], items[name]) @ w)
            else:
                scores.append((component.combine(rows[0], items[name]) @ w)[rows[1]])
        stacked = torch.stack([s.expand(n_rows, -1) for s in scores], dim=-1)
        if self.score_norm is not None:
            stacked = self.score_norm(stacked.reshape(-1, stacked.shape[-1]).float()).reshape(stacked.shape)
        return stacked

    def component_scores_encoded(
        self, queries: EncodedQueries, context: torch.Tensor, items: dict[str, torch.Tensor]
    ) -> ComponentScores:
        """The parts of the fused score before fusion: the gate's weights and each component's scores."""
        logits = self.gate_logits(queries, context)
        alpha = self._weights(logits, context)
        return ComponentScores(alpha, logits, self._per_component(queries, items, context.shape[0]), self.head.bias[0])

    def component_scores(self, batch: Batch, candidates: torch.Tensor) -> ComponentScores:
        """`component_scores_encoded` for candidates [B, C] of a batch (diagnosis and training)."""
        return self.component_scores_encoded(self.encode_queries(batch), batch.context, self.item_sides(candidates))

    def score_encoded(self, queries: EncodedQueries, context: torch.Tensor, candidates: torch.Tensor) -> Scores:
        return self._fuse(queries, context, self.item_sides(candidates))

    def score_item_range(self, queries: EncodedQueries, context: torch.Tensor, start: int, stop: int) -> Scores:
        """In eval mode, slices of the cached catalogue item sides broadcast over the rows (no gather)."""
        if self.training:
            return super().score_item_range(queries, context, start, stop)
        items = {name: table[start:stop].unsqueeze(0) for name, table in self.catalogue_item_sides().items()}
        return self._fuse(queries, context, items)

    def _fuse(self, queries: EncodedQueries, context: torch.Tensor, items: dict[str, torch.Tensor]) -> Scores:
        """Gate-weighted sum of the components' head outputs; items are [B or 1, C, h] per component."""
        parts = self.component_scores_encoded(queries, context, items)
        return Scores(parts.fused().float(), self._reported(parts.alpha))

    def score_all_items(self, batch: Batch) -> Scores | None:
        """Scores [B, n_items] in eval mode: each row side once (the GRU runs once per row, not once
        per block of items), then the cached catalogue item sides in blocks of items; with each
        component's score spread over the catalogue (running sums, so no [B, n_items, K] tensor)."""
        if self.training:
            return None
        queries = self.encode_queries(batch)
        n_rows = batch.user.shape[0]
        alpha = self.fusion_weights(batch.context, queries)  # [B, K]
        catalogue = self.catalogue_item_sides()
        w = self.head.weight[0]
        # a component scores each distinct row side once (the static one: once per user, not per row)
        distinct = {name: _distinct_rows(row) for name, row in queries.items() if name in self.components}
        block = max(1, CATALOGUE_BLOCK_PAIRS["cuda" if w.is_cuda else "cpu"] // max(n_rows, 1))
        scores = torch.empty(n_rows, self.n_items, device=w.device)
        # float64 sums of s and s^2 per (row, component): the variance E[s^2] - E[s]^2 loses nothing that matters
        total = torch.zeros(n_rows, alpha.shape[1], dtype=torch.float64, device=w.device)
        squares = torch.zeros_like(total)
        for start in range(0, self.n_items, block):
            items = {name: table[start : start + block].unsqueeze(0) for name, table in catalogue.items()}
            per_component = self._per_component(queries, items, n_rows, distinct)  # [B, C, K]
            scores[:, start : start + block] = self.head.bias + (per_component * alpha.unsqueeze(1)).sum(dim=-1)
            total += per_component.sum(dim=1, dtype=torch.float64)
            squares += (per_component * per_component).sum(dim=1, dtype=torch.float64)
        mean = total / self.n_items
        spread = (squares / self.n_items - mean.square()).clamp(min=0).sqrt()
        return Scores(scores, self._reported(alpha), self._reported(spread))

    def calculate_loss(self, batch: Batch, candidates: torch.Tensor, ranking_loss: str) -> TrainingLoss:
        """The fused ranking loss plus the gate's terms; in a curriculum's solo phase, the sum of each
        component's own ranking loss (the gate gets no gradient). Records the gate's dynamics."""
        parts = self.component_scores(batch, candidates)
        loss = LOSSES[ranking_loss]
        if self.solo_phase:
            solo = parts.bias + parts.scores  # [B, C, K]: each component scoring alone
            ranking = sum(loss(solo[:, 0, k], solo[:, 1:, k]) for k in range(solo.shape[-1]))
            regularizers: dict[str, torch.Tensor] = {}
        else:
            fused = parts.fused()
            ranking = loss(fused[:, 0], fused[:, 1:])
            regularizers = self.auxiliary_loss(self._reported(parts.alpha))
            if self.z_loss_lambda and parts.logits is not None:
                regularizers["z_loss"] = self.z_loss_lambda * z_loss(parts.logits)
        if torch.is_grad_enabled():
            self._record(parts)
            if self.balance_bias_rate and self.gate is not None and not self.solo_phase:
                with torch.no_grad():
                    self.gate.balance_bias.copy_(balance_bias_step(self.gate.balance_bias, parts.alpha, self.balance_bias_rate))
        return TrainingLoss(ranking + sum(regularizers.values()), ranking, regularizers, self._reported(parts.alpha))

    def _record(self, parts: ComponentScores) -> None:
        """Accumulate the batch's gate dynamics on the device (no host sync): each component's score scale
        (std of w . h_k over the batch's candidates), the gate entropy and, once backward has run, the
        norm of the loss gradient on the gate logits."""
        values = {
            f"score_scale_{ALL_COMPONENTS[p]}": parts.scores[..., k].detach().float().std()
            for k, p in enumerate(self.positions)
        }
        if parts.logits is not None:
            alpha = parts.alpha.detach().float()
            values["gate_entropy"] = -torch.special.xlogy(alpha, alpha).sum(dim=-1).mean()
            if parts.logits.requires_grad:
                parts.logits.register_hook(self._record_logit_gradient)
        for name, value in values.items():
            self._diagnostics[name] = self._diagnostics.get(name, 0) + value
        self._diagnostic_batches += 1

    def _record_logit_gradient(self, grad: torch.Tensor) -> None:
        self._diagnostics["gate_logit_grad_norm"] = self._diagnostics.get("gate_logit_grad_norm", 0) + grad.detach().float().norm()

    def epoch_diagnostics(self) -> dict[str, float]:
        """Means over the training batches since the last call (score scales, gate entropy, logit gradient), then reset."""
        n = max(self._diagnostic_batches, 1)
        means = {name: float(total) / n for name, total in self._diagnostics.items()}
        self._diagnostics, self._diagnostic_batches = {}, 0
        return means

    def start_epoch(self, epoch: int) -> None:
        """A curriculum's first `curriculum_epochs` epochs train each component alone."""
        self.solo_phase = epoch <= self.curriculum_epochs

    def _reported(self, values: torch.Tensor) -> torch.Tensor:
        """[B, K] values of the present components (α, score spreads) -> [B, 3] in (static, dynamic,
        content) order, 0 for an absent component, float32."""
        reported = values.new_zeros(values.shape[0], len(ALL_COMPONENTS))
        reported[:, self.positions] = values
        return reported.float()

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

    def restore_catalogue_item_sides(self, tables: dict[str, torch.Tensor]) -> None:
        """Adopt item sides computed earlier for these exact weights (e.g. read from a cache)."""
        shapes = {name: tuple(table.shape) for name, table in tables.items()}
        if set(shapes) != set(self.components) or any(shape[0] != self.n_items for shape in shapes.values()):
            raise ValueError(f"catalogue item sides {shapes} do not fit this model ({list(self.components)}, {self.n_items} items)")
        self._catalogue = {name: table.to(self.head.weight.device) for name, table in tables.items()}

    def clear_catalogue_cache(self) -> None:
        self._catalogue = None

    def train(self, mode: bool = True) -> HybridRecommender:
        if mode or self.training:  # weights are about to change (or just did); eval() on an eval model keeps them
            self.clear_catalogue_cache()
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


def _distinct_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(distinct rows, inverse) when rows [B, h] repeat enough to pay for the gather, else None.

    Equal row sides give equal scores, so scoring the distinct ones and gathering changes no value.
    """
    if rows.dim() != 2 or rows.shape[0] < 2 or rows.shape[1] == 0:  # [B, 0]: an item-only component
        return None
    unique, inverse = torch.unique(rows, dim=0, return_inverse=True)
    return (unique, inverse) if unique.shape[0] * 4 <= rows.shape[0] * 3 else None


def _forget_catalogue_after_load(module: HybridRecommender, _incompatible_keys: object) -> None:
    module.clear_catalogue_cache()
