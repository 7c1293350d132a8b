"""One user against the whole catalogue in one streaming pass over one table: the service's fast path.

The hybrid scores item i as b + sum_k alpha_k (w . h_k(i)), where h = relu(r + v_i) for the
dynamic component and for a one-layer static NCF, and h = p * c_i for content. Since
relu(r + v) = max(v, -r) + r, the whole score is

    score(i) = b + sum_relu alpha_k (w . r_k) + sum_j W_j max(T_ij, L_j)

over T = the components' catalogue item sides side by side [n_items, sum of widths], with, per
request, W = (alpha_k w for a relu part, alpha_k w * p for content) and L = (-r_k, or -inf for
content). A request is then one elementwise max and one matvec per block of items small enough to
stay in cache, instead of three [1, C, 64] intermediates per block; the table is read once.
The scores equal `score_item_range`'s up to float rounding (tests/ml/serving/test_fused.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch

from hybridrec_ml.config import ALL_COMPONENTS
from hybridrec_ml.models.base import EncodedQueries, Recommender
from hybridrec_ml.models.content import ContentMLP
from hybridrec_ml.models.dynamic import DynamicGRU
from hybridrec_ml.models.hybrid import HybridRecommender
from hybridrec_ml.models.static import StaticNCF
from hybridrec_ml.serving.topk import TopK, top_k_of_scored

FUSED_ITEM_BLOCK = 2048  # items per max + matvec step: a [2048, 192] float32 block (1.5 MB) stays in the L3 cache


@dataclass(frozen=True)
class _Part:
    name: str  # the component
    columns: slice  # its item side's columns in the fused table
    relu: bool  # h = relu(row + item) (True) or h = row * item (False)


def _form(component: torch.nn.Module) -> bool | None:
    """True for h = relu(row + item), False for h = row * item, None for anything else (no fast path)."""
    if isinstance(component, StaticNCF):
        return True if len(component.mlp) == 0 else None  # deeper NCF towers are not a sum of maxima
    if isinstance(component, DynamicGRU):
        return True
    if isinstance(component, ContentMLP):
        return False
    return None


class FusedCatalogue:
    """A hybrid's catalogue item sides as one [n_items, width] table, and the top-k of one row against it."""

    def __init__(self, model: HybridRecommender, block: int = FUSED_ITEM_BLOCK) -> None:
        sides = model.catalogue_item_sides()
        parts, start = [], 0
        for name, component in model.components.items():
            relu, width = _form(component), sides[name].shape[1]
            if relu is None:
                raise ValueError(f"no fused scoring for the {name} component ({type(component).__name__})")
            parts.append(_Part(name, slice(start, start + width), relu))
            start += width
        self.model, self.parts, self.block = model, parts, block
        self.table = torch.cat([sides[part.name] for part in parts], dim=1).contiguous()
        # the model scores /score candidates from views of the same table: one copy of the item sides in memory
        model.restore_catalogue_item_sides({part.name: self.table[:, part.columns] for part in parts})
        self.positions = [ALL_COMPONENTS.index(part.name) for part in parts]
        self._buffers = threading.local()  # per serving thread: the scores row and one block

    @staticmethod
    def supports(model: Recommender) -> bool:
        """A hybrid on the CPU (where the buffers live), in eval mode, whose components all have a known combine."""
        return (
            isinstance(model, HybridRecommender)
            and not model.training
            and model.head.weight.device.type == "cpu"
            and all(_form(component) is not None for component in model.components.values())
            and model.score_norm is None  # standardised component scores are not a sum of maxima
        )

    @property
    def n_items(self) -> int:
        return self.table.shape[0]

    def _scratch(self) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
        """This thread's scores row and, per block, (table rows, max buffer, scores slice): views made once."""
        buffers = self._buffers.__dict__
        if "scores" not in buffers:
            scores, block = torch.empty(self.n_items), torch.empty(self.block, self.table.shape[1])
            buffers["scores"] = scores
            buffers["steps"] = [
                (self.table[start:stop], block[: stop - start], scores[start:stop])
                for start, stop in ((start, min(start + self.block, self.n_items)) for start in range(0, self.n_items, self.block))
            ]
        return buffers["scores"], buffers["steps"]

    def top_k(self, queries: EncodedQueries, context: torch.Tensor, consumed: torch.Tensor, k: int) -> TopK:
        """The k best items of one row (queries [1, ...], context [1, context_dim]) not in `consumed`."""
        alpha = self.model.fusion_weights(context, queries)[0].float()  # [K]
        w = self.model.head.weight[0]
        weights, lower = torch.empty(self.table.shape[1]), torch.empty(self.table.shape[1])
        offset = self.model.head.bias[0].clone()
        for index, part in enumerate(self.parts):
            row = queries[part.name][0]
            if part.relu:
                weights[part.columns] = alpha[index] * w
                lower[part.columns] = -row
                offset += alpha[index] * (w @ row)
            else:  # h = p * c_i, or c_i alone for the study's item-only content (an empty row side)
                weights[part.columns] = alpha[index] * w * (row if row.numel() else 1.0)
                lower[part.columns] = float("-inf")
        scores, steps = self._scratch()
        for rows, maxima, out in steps:
            torch.maximum(rows, lower, out=maxima)
            torch.mv(maxima, weights, out=out)
        scores.add_(offset)
        scores[consumed] = float("-inf")
        reported = torch.zeros(1, len(ALL_COMPONENTS))
        reported[0, self.positions] = alpha
        return top_k_of_scored(scores.unsqueeze(0), k, reported)
