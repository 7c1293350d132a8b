"""The evaluation protocols, per row and per user.

Per row (the study's): every val/test interaction is one positive, ranked either against 99
stored negatives (`evaluate_sampled`) or against the whole catalogue minus what the user had
before the row (`evaluate_full`). Both reduce a row to the 0-based rank of its positive (ties
pessimistic, see `metrics`), so metrics, segments and paired tests are the same code for either.

Per user (RecBole's full sort, `evaluate_per_user`): all of a user's test items are positives at
once, ranked against the catalogue minus the user's train + valid items.

They see a model only through the `Recommender` interface and run on the model's device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import torch

from hybridrec_ml.tensors.batching import make_batch
from hybridrec_ml.config import VariantConfig
from hybridrec_ml.tensors.bundle import InteractionSet, SparseRows, TrainingBundle, UserTimeline
from hybridrec_ml.tensors.sequences import batch_maker
from hybridrec_ml.evaluation.negatives import check_mask
from hybridrec_ml.evaluation.metrics import mean_metrics, ndcg_at_k, per_user_metrics, positive_rank
from hybridrec_ml.models.base import Recommender, Scores
from hybridrec_ml.tensors.batch import Batch


# Rows / items per scoring call when the caller does not choose. On CPU, [B, C, d] intermediates
# of pair-scoring models must stay cache-sized (measured: 256 x 100 pairs is ~2.5x faster than
# 4096 x 100 on a demo MLP); on a GPU, large blocks are needed to fill the device.
_DEFAULT_CHUNKS = {
    "cpu": {"batch_size": 256, "row_chunk": 128, "item_chunk": 256},
    "cuda": {"batch_size": 8192, "row_chunk": 1024, "item_chunk": 8192},
}


# Full-ranking rows per block on the CPU when the caller does not choose: about this many scores
# per [rows, n_items] block, between the row_chunk default and 1024 rows. Fewer, larger blocks mean
# fewer GRU passes (steps cost per call on a CPU) and more repeated users to score once; each model
# bounds its own [rows, items, d] intermediates.
_CPU_FULL_RANKING_SCORES = 1 << 20


def default_chunk(setting: str, chosen: int | None, device: torch.device) -> int:
    """`chosen`, or the device's default for "batch_size", "row_chunk" or "item_chunk"."""
    return chosen if chosen is not None else _DEFAULT_CHUNKS["cuda" if device.type == "cuda" else "cpu"][setting]


def full_ranking_rows(chosen: int | None, device: torch.device, n_items: int) -> int:
    """Rows per full-ranking block: `chosen`, else the device default, on the CPU scaled to the catalogue."""
    rows = default_chunk("row_chunk", chosen, device)
    if chosen is not None or device.type == "cuda":
        return rows
    return min(1024, max(rows, _CPU_FULL_RANKING_SCORES // max(n_items, 1)))


@dataclass(frozen=True, eq=False)  # eq would compare numpy arrays elementwise
class EvalResult:
    """Per-interaction outcome of one protocol on one split, aligned on `event_order`."""

    protocol: Literal["sampled", "full"]
    event_order: np.ndarray  # int64 [N]
    ranks: np.ndarray  # int64 [N]: 0-based rank of the positive, ties counted against it
    alpha: np.ndarray | None  # float32 [N, 3] fusion weights (static, dynamic, content), None without a gate
    # float32 [N, 3] each component's score spread over the catalogue (full ranking of a fusing model), else None
    component_spread: np.ndarray | None = None

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


def _sequence_order(split: InteractionSet, rows: torch.Tensor) -> torch.Tensor:
    """Positions into `rows` sorted by (user, event_order), the order the rows are scored in.

    Rows of one user sequence then share a scoring block, so on the sequence path a chunk's GRU
    pass runs once instead of once per block that touches it (demo validation: half the GRU
    tokens). Every row's score is its own, so the order changes no rank.
    """
    return torch.from_numpy(np.lexsort((split.event_order[rows].numpy(), split.user[rows].numpy())))


def _result(
    protocol: Literal["sampled", "full"],
    split: InteractionSet,
    rows: torch.Tensor,
    order: torch.Tensor,
    ranks: list[torch.Tensor],
    alphas: list[torch.Tensor],
    saw_nan: torch.Tensor,
    spreads: list[torch.Tensor] | None = None,
) -> EvalResult:
    """The outcome of `rows` scored in `order` (positions into rows), put back in the order of `rows`."""
    if bool(saw_nan):
        raise ValueError("the model produced NaN scores; ranks would be meaningless")
    if alphas and len(alphas) != len(ranks):
        raise ValueError("the model returned alpha for some batches and not for others")
    if spreads and len(spreads) != len(ranks):
        raise ValueError("the model returned component spreads for some batches and not for others")
    back = torch.argsort(order).numpy()
    return EvalResult(
        protocol=protocol,
        event_order=split.event_order[rows].numpy(),
        ranks=torch.cat(ranks).cpu().numpy()[back] if ranks else np.zeros(0, dtype=np.int64),
        alpha=torch.cat(alphas).float().cpu().numpy()[back] if alphas else None,
        component_spread=torch.cat(spreads).float().cpu().numpy()[back] if spreads else None,
    )


def evaluate_sampled(
    model: Recommender,
    split: InteractionSet,
    negatives: torch.Tensor,
    *,
    max_history: int = 50,
    batch_size: int | None = None,
    rows: torch.Tensor | None = None,
    make_query: Callable[[torch.Tensor], Batch] | None = None,
) -> EvalResult:
    """Rank each positive among itself + its stored negatives [N, n] (row-aligned with `split`).

    `rows` restricts evaluation to some row positions of `split` (the validator's subset);
    batch_size defaults by device (small on CPU, large on GPU). `make_query` builds the query side
    of row positions (tensors.sequences.batch_maker: the variant's history path); by default each
    row's window of up to `max_history` items.
    """
    make_query = make_query or (lambda chunk: make_batch(split, chunk, max_history))
    rows = torch.arange(len(split)) if rows is None else rows
    order = _sequence_order(split, rows)
    device = model_device(model)
    batch_size = default_chunk("batch_size", batch_size, device)
    ranks: list[torch.Tensor] = []
    alphas: list[torch.Tensor] = []
    saw_nan = torch.zeros((), dtype=torch.bool, device=device)
    with evaluating(model):
        for chunk in rows[order].split(batch_size):
            batch = make_query(chunk).to(device)
            candidates = torch.cat([split.item[chunk].unsqueeze(1), negatives[chunk]], dim=1).to(device)
            scored = model.score_candidates(batch, candidates)
            saw_nan |= torch.isnan(scored.scores).any()
            ranks.append(positive_rank(scored.scores[:, 0], scored.scores[:, 1:]))
            if scored.alpha is not None:
                alphas.append(scored.alpha)
    return _result("sampled", split, rows, order, ranks, alphas, saw_nan)


def _masked_pairs(
    seen: UserTimeline, users: torch.Tensor, event_order: torch.Tensor, positives: torch.Tensor, n_items: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct (row, item) that row r's user had before event_order[r], except the row's own positive.

    Distinct, so an item the user had twice is discounted once.
    """
    row, item = seen.pairs_before(users, event_order)
    keep = item != positives[row]
    keys = torch.unique(row[keep] * n_items + item[keep])
    return keys // n_items, keys % n_items


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


def masked_timeline(bundle: TrainingBundle, mask: str) -> UserTimeline:
    """What full ranking masks for a test row: "history", everything its user had before the row (train,
    val, earlier test); "train_only", the user's training items only (the study's rule)."""
    check_mask(mask)
    return bundle.timeline if mask == "history" else bundle.timeline.truncated(int(bundle.val.event_order.min()))


def evaluate_full(
    model: Recommender,
    split: InteractionSet,
    seen: UserTimeline,
    n_items: int,
    *,
    max_history: int = 50,
    row_chunk: int | None = None,
    item_chunk: int | None = None,
    rows: torch.Tensor | None = None,
    make_query: Callable[[torch.Tensor], Batch] | None = None,
) -> EvalResult:
    """Rank each positive against the whole catalogue, minus what the row's user had before the row.

    `seen` is the bundle's `timeline` for the default mask (train, val and earlier test items of
    the user: whatever happened before the row) or `timeline.truncated(first val event)` for the
    `train_only` mask. A masked item never counts ahead of the positive (as if scored -inf), but
    the positive itself is always ranked even if the user had it before. Uses
    `model.score_all_items` when it returns scores, else `score_candidates` over item chunks;
    only a running per-row count of items at or above the positive is kept, never the N x items
    matrix, so memory is row_chunk x item_chunk (row_chunk x n_items on the fast path). Chunk
    sizes default by device (`full_ranking_rows`); rows are scored grouped by user and time and
    returned in the order of `rows`; `make_query` as in `evaluate_sampled`. The fast path's component
    spreads, where the model measures them, are kept per row (`EvalResult.component_spread`).
    """
    make_query = make_query or (lambda chunk: make_batch(split, chunk, max_history))
    rows = torch.arange(len(split)) if rows is None else rows
    order = _sequence_order(split, rows)
    device = model_device(model)
    row_chunk, item_chunk = full_ranking_rows(row_chunk, device, n_items), default_chunk("item_chunk", item_chunk, device)
    seen = _on_device(seen, device)
    ranks: list[torch.Tensor] = []
    alphas: list[torch.Tensor] = []
    spreads: list[torch.Tensor] = []
    saw_nan = torch.zeros((), dtype=torch.bool, device=device)
    with evaluating(model):
        for chunk in rows[order].split(row_chunk):
            batch = make_query(chunk).to(device)
            positives = split.item[chunk].to(device)
            masked = _masked_pairs(seen, batch.user, split.event_order[chunk].to(device), positives, n_items)
            everything = model.score_all_items(batch)
            if everything is not None:
                if everything.scores.shape != (chunk.numel(), n_items):
                    raise ValueError(f"score_all_items returned {tuple(everything.scores.shape)} for {n_items} items")
                positive_score = everything.scores.gather(1, positives.unsqueeze(1)).squeeze(1)
                saw_nan |= torch.isnan(everything.scores).any()
                ahead = _count_ahead(everything.scores, 0, positive_score, positives, *masked)
                alpha = everything.alpha
                if everything.component_spread is not None:
                    spreads.append(everything.component_spread)
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
    return _result("full", split, rows, order, ranks, alphas, saw_nan, spreads)


@dataclass(frozen=True, eq=False)
class PerUserResult:
    """RecBole's full-sort outcome: where each evaluated user's positives landed in its ranked list."""

    users: np.ndarray  # int64 [U] user_idx, ascending
    positive_ptr: np.ndarray  # int64 [U + 1]: user i's positives are positions[ptr[i]:ptr[i+1]]
    positions: np.ndarray  # int64 [P] 0-based, ascending within each user, ties pessimistic
    alpha: np.ndarray | None  # float32 [U, 3] fusion weights at the user's query row, None without a gate
    k_values: tuple[int, ...] = (10, 20)

    protocol = "per_user"

    @property
    def n_positives(self) -> np.ndarray:
        return np.diff(self.positive_ptr)

    @cached_property
    def per_user(self) -> dict[str, np.ndarray]:
        """Each metric per user ([U] arrays), keyed like "ndcg@10", "recall@10", "hit@10", "mrr@10"."""
        return per_user_metrics(self.positive_ptr, self.positions, self.k_values)

    @cached_property
    def metrics(self) -> dict[str, float]:
        """Means over users, as RecBole reports them (NaN without users)."""
        if len(self.users) == 0:
            return {name: float("nan") for name in per_user_metrics(np.array([0, 1]), np.array([0]), self.k_values)}
        return {name: float(values.mean()) for name, values in self.per_user.items()}


def _catalogue_scores(model: Recommender, batch: Batch, n_items: int, item_chunk: int) -> Scores:
    """Scores [B, n_items]: the model's fast path if it has one, else its pair scoring over item chunks."""
    everything = model.score_all_items(batch)
    if everything is not None:
        if everything.scores.shape != (batch.user.numel(), n_items):
            raise ValueError(f"score_all_items returned {tuple(everything.scores.shape)} for {n_items} items")
        return everything
    device, rows = batch.user.device, batch.user.numel()
    blocks, alpha = [], None
    for start in range(0, n_items, item_chunk):
        items = torch.arange(start, min(start + item_chunk, n_items), device=device)
        scored = model.score_candidates(batch, items.expand(rows, -1))
        blocks.append(scored.scores)
        alpha = scored.alpha
    return Scores(torch.cat(blocks, dim=1), alpha)


def _user_positives(split: InteractionSet, n_items: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(users ascending, row of each user's first interaction in split, CSR ptr and items of its distinct positives)."""
    keys = np.unique((split.user * n_items + split.item).numpy())
    owner, item = np.divmod(keys, n_items)
    users, counts = np.unique(owner, return_counts=True)
    ptr = np.concatenate([[0], np.cumsum(counts)])
    first_row = np.full(int(split.user.max()) + 1 if len(split) else 0, -1, dtype=np.int64)
    user_rows = split.user.numpy()
    first_row[user_rows[::-1]] = np.arange(len(split))[::-1]  # the last write per user is its first row
    return (torch.from_numpy(users), torch.from_numpy(first_row[users]), torch.from_numpy(ptr), torch.from_numpy(item))


def evaluate_per_user(
    model: Recommender,
    split: InteractionSet,
    history: SparseRows,
    *,
    k_values: tuple[int, ...] = (10, 20),
    max_history: int = 50,
    row_chunk: int | None = None,
    item_chunk: int | None = None,
    make_query: Callable[[torch.Tensor], Batch] | None = None,
) -> PerUserResult:
    """RecBole's full-sort protocol: per user, all of its distinct items in `split` are positives at once.

    Candidates are the whole catalogue minus `history[user]` (the user's train + valid items, e.g.
    `bundle.timeline.items_before(first test event_order)`); a positive that is also in the
    history stays ranked. Every user with a row in `split` is evaluated, cold users included.
    The query side (user id, context, recent items for the GRU) is the user's first row in
    `split`, whose history is everything before the test period, as RecBole's sequential models
    see it; user-only models (Pop, BPR-MF) use just the user id. Ties are pessimistic: an item
    scoring equal to a positive ranks ahead of it, and tied positives take consecutive places.
    Memory is row_chunk x n_items; `make_query` as in `evaluate_sampled`.
    """
    make_query = make_query or (lambda rows: make_batch(split, rows, max_history))
    n_items = history.n_cols
    device = model_device(model)
    row_chunk, item_chunk = full_ranking_rows(row_chunk, device, n_items), default_chunk("item_chunk", item_chunk, device)
    users, first_row, ptr, positives = _user_positives(split, n_items)
    if len(users) and int(users.max()) >= history.n_rows:
        raise ValueError(f"history covers {history.n_rows} users, the split has user {int(users.max())}")
    positions, alphas = [], []
    saw_nan = torch.zeros((), dtype=torch.bool, device=device)
    with evaluating(model):
        for lo in range(0, len(users), row_chunk):
            hi = min(lo + row_chunk, len(users))
            batch = make_query(first_row[lo:hi]).to(device)
            scored = _catalogue_scores(model, batch, n_items, item_chunk)
            scores = scored.scores.float().clone()
            saw_nan |= torch.isnan(scores).any()
            # the chunk's positives, padded to [B, P] with -inf (padding never counts as ahead)
            counts = (ptr[lo + 1 : hi + 1] - ptr[lo:hi]).to(device)
            owner = torch.repeat_interleave(torch.arange(hi - lo, device=device), counts)
            slot = torch.arange(owner.numel(), device=device) - (torch.cumsum(counts, 0) - counts)[owner]
            items = positives[ptr[lo] : ptr[hi]].to(device)
            positive_score = scores[owner, items]
            # mask the history, then put the positives back: a positive is never masked
            start, length = history.ptr[users[lo:hi]], history.ptr[users[lo:hi] + 1] - history.ptr[users[lo:hi]]
            masked_row = torch.repeat_interleave(torch.arange(hi - lo), length)
            within = torch.arange(masked_row.numel()) - (torch.cumsum(length, 0) - length)[masked_row]
            masked_item = history.index[start[masked_row] + within]
            scores[masked_row.to(device), masked_item.to(device)] = float("-inf")
            scores[owner, items] = positive_score
            padded = torch.full((hi - lo, int(counts.max())), float("-inf"), device=device)
            padded[owner, slot] = positive_score
            # items (positives included) at or above each positive, minus the positives at or above it
            at_or_above = n_items - torch.searchsorted(scores.sort(dim=1).values, padded)
            positives_at_or_above = padded.shape[1] - torch.searchsorted(padded.sort(dim=1).values, padded)
            others_ahead = at_or_above - positives_at_or_above
            # best positive first; tied positives take consecutive places
            order = padded.argsort(dim=1, descending=True, stable=True)
            ahead_sorted = others_ahead.gather(1, order)
            place = ahead_sorted + torch.arange(padded.shape[1], device=device)
            valid = torch.arange(padded.shape[1], device=device) < counts.unsqueeze(1)
            positions.append(place[valid].cpu())
            if scored.alpha is not None:
                alphas.append(scored.alpha.float().cpu())
    if bool(saw_nan):
        raise ValueError("the model produced NaN scores; ranks would be meaningless")
    return PerUserResult(
        users=users.numpy(),
        positive_ptr=ptr.numpy(),
        positions=torch.cat(positions).numpy() if positions else np.zeros(0, dtype=np.int64),
        alpha=torch.cat(alphas).numpy() if alphas else None,
        k_values=tuple(k_values),
    )


def _on_device(seen: UserTimeline, device: torch.device) -> UserTimeline:
    if seen.ptr.device == device:
        return seen
    moved = {name: getattr(seen, name).to(device) for name in ("ptr", "item", "event_order", "key")}
    return UserTimeline(**moved, stride=seen.stride, n_items=seen.n_items)


def make_validator(
    split: InteractionSet,
    seen: UserTimeline,
    n_items: int,
    max_rows: int = 5000,
    *,
    make_query: Callable[[torch.Tensor], Batch] | None = None,
) -> Callable[[Recommender], float]:
    """Full-ranking NDCG@10 on a fixed subset of `split`, as a mean over users (for early stopping).

    The protocol (history masked: `seen` is the bundle's timeline), and the user-level mean are
    those of the main table. The subset is max_rows
    positions evenly spaced over the split, so it spans the whole validation period instead of
    only its first days, and is the same every epoch.
    """
    n_rows = len(split)
    rows = torch.arange(n_rows) if max_rows >= n_rows else torch.linspace(0, n_rows - 1, max_rows).round().long()

    def validate(model: Recommender) -> float:
        result = evaluate_full(model, split, seen, n_items, rows=rows, make_query=make_query)
        return user_mean(result.ndcg_at_10, split.user[rows].numpy())

    return validate


def validator_for(variant: VariantConfig, bundle: TrainingBundle) -> Callable[[Recommender], float]:
    """The early-stopping validator of a run of `variant`: the bundle's val rows, read on the variant's history path."""
    return make_validator(
        bundle.val, bundle.timeline, bundle.n_items, variant.train.val_max_rows,
        make_query=batch_maker(variant, bundle, "val"),
    )  # fmt: skip


def user_mean(values: np.ndarray, users: np.ndarray) -> float:
    """Mean over users of each user's mean value (every user weighs the same, however many rows)."""
    if len(values) == 0:
        return float("nan")
    _, user_of_row = np.unique(users, return_inverse=True)
    sums = np.bincount(user_of_row, weights=values)
    counts = np.bincount(user_of_row)
    return float((sums / counts).mean())
