"""The two evaluation protocols: sampled (positive + 99 stored negatives) and full-catalogue ranking.

Both reduce every row to the 0-based rank of its positive (ties pessimistic, see `metrics`), so
the metrics, segments and paired tests downstream are the same code for either protocol. They
see a model only through the `Recommender` interface and run on the model's device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import torch

from hybridrec_ml.evaluation.metrics import mean_metrics, ndcg_at_k, positive_rank
from hybridrec_ml.evaluation.negatives import train_pair_keys
from hybridrec_ml.models.base import Recommender
from hybridrec_ml.tensors.batching import make_batch
from hybridrec_ml.tensors.bundle import InteractionSet, SparseRows


# Rows / items per scoring call when the caller does not choose. On CPU, [B, C, d] intermediates
# of pair-scoring models must stay cache-sized (measured: 256 x 100 pairs is ~2.5x faster than
# 4096 x 100 on a demo MLP); on a GPU, large blocks are needed to fill the device.
_DEFAULT_CHUNKS = {
    "cpu": {"batch_size": 256, "row_chunk": 128, "item_chunk": 256},
    "cuda": {"batch_size": 8192, "row_chunk": 1024, "item_chunk": 8192},
}


def _chunk(setting: str, chosen: int | None, device: torch.device) -> int:
    return chosen if chosen is not None else _DEFAULT_CHUNKS["cuda" if device.type == "cuda" else "cpu"][setting]


@dataclass(frozen=True, eq=False)  # eq would compare numpy arrays elementwise
class EvalResult:
    """Per-interaction outcome of one protocol on one split, aligned on `event_order`."""

    protocol: Literal["sampled", "full"]
    event_order: np.ndarray  # int64 [N]
    ranks: np.ndarray  # int64 [N]: 0-based rank of the positive, ties counted against it
    alpha: np.ndarray | None  # float32 [N, 3] fusion weights (static, dynamic, content), None without a gate

    @cached_property
    def metrics(self) -> dict[str, float]:
        """Metric means keyed like "ndcg@10", "recall@10", "precision@10", "mrr"."""
        return mean_metrics(self.ranks)

    @property
    def ndcg_at_10(self) -> np.ndarray:
        """Per-row NDCG@10: the paired tests compare models on this."""
        return ndcg_at_k(self.ranks, 10)

    @property
    def alpha_mean(self) -> tuple[float, float, float] | None:
        if self.alpha is None or len(self.alpha) == 0:
            return None
        static, dynamic, content = self.alpha.astype(np.float64).mean(axis=0)
        return float(static), float(dynamic), float(content)


def model_device(model: torch.nn.Module) -> torch.device:
    """Where the model's tensors live (CPU for a model without any, e.g. a lookup baseline)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no autograd for the block, then the model's previous train/eval mode again."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _result(
    protocol: Literal["sampled", "full"],
    split: InteractionSet,
    rows: torch.Tensor,
    ranks: list[torch.Tensor],
    alphas: list[torch.Tensor],
    saw_nan: torch.Tensor,
) -> EvalResult:
    if bool(saw_nan):
        raise ValueError("the model produced NaN scores; ranks would be meaningless")
    if alphas and len(alphas) != len(ranks):
        raise ValueError("the model returned alpha for some batches and not for others")
    return EvalResult(
        protocol=protocol,
        event_order=split.event_order[rows].numpy(),
        ranks=torch.cat(ranks).cpu().numpy() if ranks else np.zeros(0, dtype=np.int64),
        alpha=torch.cat(alphas).float().cpu().numpy() if alphas else None,
    )


def evaluate_sampled(
    model: Recommender,
    split: InteractionSet,
    negatives: torch.Tensor,
    *,
    max_history: int = 50,
    batch_size: int | None = None,
    rows: torch.Tensor | None = None,
) -> EvalResult:
    """Rank each positive among itself + its stored negatives [N, n] (row-aligned with `split`).

    `rows` restricts evaluation to some row positions of `split` (the validator's subset);
    batch_size defaults by device (small on CPU, large on GPU).
    """
    rows = torch.arange(len(split)) if rows is None else rows
    device = model_device(model)
    batch_size = _chunk("batch_size", batch_size, device)
    ranks: list[torch.Tensor] = []
    alphas: list[torch.Tensor] = []
    saw_nan = torch.zeros((), dtype=torch.bool, device=device)
    with evaluating(model):
        for chunk in rows.split(batch_size):
            batch = make_batch(split, chunk, max_history).to(device)
            candidates = torch.cat([split.item[chunk].unsqueeze(1), negatives[chunk]], dim=1).to(device)
            scored = model.score_candidates(batch, candidates)
            saw_nan |= torch.isnan(scored.scores).any()
            ranks.append(positive_rank(scored.scores[:, 0], scored.scores[:, 1:]))
            if scored.alpha is not None:
                alphas.append(scored.alpha)
    return _result("sampled", split, rows, ranks, alphas, saw_nan)


def _unique_train_items(train_items_by_user: SparseRows, n_items: int, device: torch.device) -> SparseRows:
    """The same CSR with repeated (user, item) pairs removed, so a masked item is discounted once."""
    keys = train_pair_keys(train_items_by_user, n_items).to(device)
    owners = keys // n_items
    ptr = torch.searchsorted(owners, torch.arange(train_items_by_user.n_rows + 1, device=device))
    return SparseRows(ptr=ptr, index=keys % n_items, weight=None, n_cols=n_items)


def _masked_pairs(
    train: SparseRows, users: torch.Tensor, positives: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, item) of every training item of each row's user, except the row's own positive."""
    start = train.ptr[users]
    length = train.ptr[users + 1] - start
    row = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), length)
    row_offset = torch.cumsum(length, dim=0) - length
    item = train.index[start[row] + torch.arange(row.numel(), device=users.device) - row_offset[row]]
    keep = item != positives[row]
    return row[keep], item[keep]


def _count_ahead(
    block: torch.Tensor,
    block_start: int,
    positive_score: torch.Tensor,
    positives: torch.Tensor,
    masked_rows: torch.Tensor,
    masked_items: torch.Tensor,
) -> torch.Tensor:
    """How many items of the column block [B, C] (items block_start..) rank at or above the positive.

    The positive itself and the masked training items are discounted by identity, so this never
    depends on the positive scoring exactly the same inside the block as in a separate call.
    """
    threshold = positive_score.unsqueeze(1)
    ahead = (block >= threshold).sum(dim=1)
    in_block = (positives >= block_start) & (positives < block_start + block.shape[1])
    column = (positives - block_start).clamp(0, block.shape[1] - 1).unsqueeze(1)
    ahead -= (in_block & (block.gather(1, column).squeeze(1) >= positive_score)).long()
    inside = (masked_items >= block_start) & (masked_items < block_start + block.shape[1])
    rows, columns = masked_rows[inside], masked_items[inside] - block_start
    masked_ahead = block[rows, columns] >= positive_score[rows]
    ahead -= torch.bincount(rows[masked_ahead], minlength=block.shape[0])
    return ahead


def evaluate_full(
    model: Recommender,
    split: InteractionSet,
    train_items_by_user: SparseRows,
    n_items: int,
    *,
    max_history: int = 50,
    row_chunk: int | None = None,
    item_chunk: int | None = None,
    rows: torch.Tensor | None = None,
) -> EvalResult:
    """Rank each positive against the whole catalogue, the user's training items excluded.

    A training item of the user never counts ahead of the positive (as if scored -inf), but the
    positive itself is always ranked even if the user also had it in train. Uses
    `model.score_all_items` when it returns scores, else `score_candidates` over item chunks;
    only a running per-row count of items at or above the positive is kept, never the N x items
    matrix, so memory is row_chunk x item_chunk (row_chunk x n_items on the fast path). Chunk
    sizes default by device.
    """
    rows = torch.arange(len(split)) if rows is None else rows
    device = model_device(model)
    row_chunk, item_chunk = _chunk("row_chunk", row_chunk, device), _chunk("item_chunk", item_chunk, device)
    train = _unique_train_items(train_items_by_user, n_items, device)
    ranks: list[torch.Tensor] = []
    alphas: list[torch.Tensor] = []
    saw_nan = torch.zeros((), dtype=torch.bool, device=device)
    with evaluating(model):
        for chunk in rows.split(row_chunk):
            batch = make_batch(split, chunk, max_history).to(device)
            positives = split.item[chunk].to(device)
            masked = _masked_pairs(train, batch.user, positives)
            everything = model.score_all_items(batch)
            if everything is not None:
                if everything.scores.shape != (chunk.numel(), n_items):
                    raise ValueError(f"score_all_items returned {tuple(everything.scores.shape)} for {n_items} items")
                positive_score = everything.scores.gather(1, positives.unsqueeze(1)).squeeze(1)
                saw_nan |= torch.isnan(everything.scores).any()
                ahead = _count_ahead(everything.scores, 0, positive_score, positives, *masked)
                alpha = everything.alpha
            else:
                scored = model.score_candidates(batch, positives.unsqueeze(1))
                positive_score, alpha = scored.scores[:, 0], scored.alpha
                ahead = torch.zeros(chunk.numel(), dtype=torch.int64, device=device)
                for start in range(0, n_items, item_chunk):
                    items = torch.arange(start, min(start + item_chunk, n_items), device=device)
                    block = model.score_candidates(batch, items.expand(chunk.numel(), -1)).scores
                    saw_nan |= torch.isnan(block).any()
                    ahead += _count_ahead(block, start, positive_score, positives, *masked)
            saw_nan |= torch.isnan(positive_score).any()
            ranks.append(ahead)
            if alpha is not None:
                alphas.append(alpha)
    return _result("full", split, rows, ranks, alphas, saw_nan)


def make_validator(
    split: InteractionSet,
    negatives: torch.Tensor,
    max_history: int = 50,
    max_rows: int = 5000,
    *,
    batch_size: int | None = None,
) -> Callable[[Recommender], float]:
    """Sampled NDCG@10 on a fixed subset of `split` (for early stopping).

    The subset is max_rows positions evenly spaced over the split, so it spans the whole
    validation period instead of only its first days, and is the same every epoch.
    """
    n_rows = len(split)
    rows = torch.arange(n_rows) if max_rows >= n_rows else torch.linspace(0, n_rows - 1, max_rows).round().long()

    def validate(model: Recommender) -> float:
        result = evaluate_sampled(model, split, negatives, max_history=max_history, batch_size=batch_size, rows=rows)
        return result.metrics["ndcg@10"]

    return validate
