"""Top-K over the whole catalogue in item blocks, with a running top-K: never a users x items matrix.

Order is (score descending, item_idx ascending), so ties (popularity counts) give the same list
every time and a brute-force stable sort of the full scores is the exact reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hybridrec_ml.models.base import EncodedQueries, Recommender
from hybridrec_ml.tensors.bundle import SparseRows


@dataclass(frozen=True)
class TopK:
    items: torch.Tensor  # int64 [B, k]: best first; -1 where fewer than k items were left to recommend
    scores: torch.Tensor  # float32 [B, k]: -inf where items is -1
    alpha: torch.Tensor | None  # float32 [B, 3] fusion weights (static, dynamic, content), None without a gate


def excluded_pairs(consumed: SparseRows, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, item_idx) of every item in each user's `consumed` row: what the lists must leave out."""
    start = consumed.ptr[users]
    length = consumed.ptr[users + 1] - start
    row = torch.repeat_interleave(torch.arange(users.numel()), length)
    offset = torch.cumsum(length, 0) - length
    return row, consumed.index[start[row] + torch.arange(row.numel()) - offset[row]]


def _ordered(values: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reorder each row by (score descending, item ascending)."""
    items, by_item = items.sort(dim=1)
    values = values.gather(1, by_item)
    values, by_score = values.sort(dim=1, descending=True, stable=True)
    return values, items.gather(1, by_score)


def _block_top(block: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best columns of each row of block [B, C], ties resolved towards the lower column."""
    if k >= block.shape[1]:
        columns = torch.arange(block.shape[1], device=block.device)
        return _ordered(block, columns.expand(block.shape[0], -1).contiguous())
    values, columns = torch.topk(block, k, dim=1)
    # topk picks arbitrarily among scores equal to the k-th: such rows take a stable sort instead
    tied = (block >= values[:, -1:]).sum(dim=1) > k
    if bool(tied.any()):
        rows = torch.nonzero(tied).squeeze(1)
        sorted_values, sorted_columns = block[rows].sort(dim=1, descending=True, stable=True)
        values[rows], columns[rows] = sorted_values[:, :k], sorted_columns[:, :k]
    return _ordered(values, columns)


def top_k(
    model: Recommender,
    queries: EncodedQueries,
    context: torch.Tensor,
    excluded: tuple[torch.Tensor, torch.Tensor],
    k: int,
    n_items: int,
    item_chunk: int,
) -> TopK:
    """Each row's k best items, excluded (row, item) pairs left out, scored through `score_item_range`
    on the device of `context` (results stay there).

    Each item block keeps only its own k best; one stable sort of those candidates at the end gives
    the answer. Memory is rows x item_chunk for the scores (plus the model's rows x item_chunk x h
    intermediates) and rows x k per block for the candidates.
    """
    device = context.device
    candidate_scores: list[torch.Tensor] = []
    candidate_items: list[torch.Tensor] = []
    alpha = None
    excluded_rows, excluded_items = (t.to(device) for t in excluded)
    for start in range(0, n_items, item_chunk):
        stop = min(start + item_chunk, n_items)
        scored = model.score_item_range(queries, context, start, stop)
        block = scored.scores.float()
        if start == 0 and scored.alpha is not None:
            alpha = scored.alpha.float()
        inside = (excluded_items >= start) & (excluded_items < stop)
        block[excluded_rows[inside], excluded_items[inside] - start] = float("-inf")
        values, columns = _block_top(block, k)  # NaN ranks above everything, so it reaches the candidates
        candidate_scores.append(values)
        candidate_items.append(columns + start)
    # blocks in item order, each sorted by (score desc, item asc): a stable sort keeps that order among ties
    scores, order = torch.cat(candidate_scores, dim=1).sort(dim=1, descending=True, stable=True)
    return _checked(scores[:, :k], torch.cat(candidate_items, dim=1).gather(1, order[:, :k]), alpha)


def top_k_of_scored(scores: torch.Tensor, k: int, alpha: torch.Tensor | None) -> TopK:
    """Each row's k best of rows scored against the whole catalogue [B, n_items], excluded items already -inf."""
    values, items = _block_top(scores, k)
    return _checked(values, items, alpha)


def _checked(scores: torch.Tensor, items: torch.Tensor, alpha: torch.Tensor | None) -> TopK:
    """The final [B, k] lists: refused if a score is NaN (it ranks above everything, so it would be here),
    item -1 where only excluded (-inf) items were left."""
    if bool(torch.isnan(scores).any()):
        raise ValueError("the model produced NaN scores; a top-K of them would be meaningless")
    return TopK(items.masked_fill(torch.isneginf(scores), -1), scores, alpha)
