"""Evaluation throughput (test rows/s): vectorised protocols vs a per-row Python loop, same run.

Demo-size world by default (4K users, 1.5K items, 100K test rows): a dot-product model (has the
`score_all_items` fast path) and a pair-scoring MLP (candidates only). The per-row reference
scores one interaction at a time, as a naive evaluator would; it runs on a subset and its
rate is compared with the vectorised rate.

    python bench/evaluation_throughput.py [--rows 100000] [--device cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb
import torch
from torch import nn

from hybridrec_ml.evaluation.negatives import draw_eval_negatives, load_eval_negatives, store_eval_negatives
from hybridrec_ml.evaluation.protocols import evaluate_full, evaluate_sampled
from hybridrec_ml.models.base import Recommender, Scores
from hybridrec_ml.tensors.batch import Batch
from hybridrec_ml.tensors.batching import make_batch
from hybridrec_ml.tensors.bundle import InteractionSet, SparseRows

T = TypeVar("T")


class DotProduct(Recommender):
    """score = <user, item>: the shape of MF / two-tower models, with a catalogue fast path."""

    def __init__(self, n_users: int, n_items: int, dim: int = 64) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        return Scores(torch.bmm(self.item(candidates), self.user(batch.user).unsqueeze(2)).squeeze(2), None)

    def score_all_items(self, batch: Batch) -> Scores:
        return Scores(self.user(batch.user) @ self.item.weight.T, None)


class PairMLP(Recommender):
    """score = MLP([user; item]): every (row, candidate) pair needs its own forward pass (NCF-like)."""

    def __init__(self, n_users: int, n_items: int, dim: int = 64) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        self.mlp = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, 1))

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        items = self.item(candidates)
        users = self.user(batch.user).unsqueeze(1).expand_as(items)
        return Scores(self.mlp(torch.cat([users, items], dim=-1)).squeeze(-1), None)


def csr(lengths: torch.Tensor, values: torch.Tensor, n_cols: int) -> SparseRows:
    return SparseRows(torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)]), values, None, n_cols)


def demo_world(n_users: int, n_items: int, n_rows: int, seed: int = 0) -> tuple[InteractionSet, SparseRows]:
    """Random test rows with <= 50-item histories, and ~20 distinct training items per user."""
    generator = torch.Generator().manual_seed(seed)
    train_lengths = torch.randint(5, 40, (n_users,), generator=generator)
    train_items = torch.cat([torch.randperm(n_items, generator=generator)[:k] for k in train_lengths.tolist()])
    history_lengths = torch.randint(0, 51, (n_rows,), generator=generator)
    history_items = torch.randint(n_items, (int(history_lengths.sum()),), generator=generator)
    split = InteractionSet(
        event_order=torch.arange(n_rows),
        user=torch.randint(n_users, (n_rows,), generator=generator),
        item=torch.randint(n_items, (n_rows,), generator=generator),
        context=torch.rand(n_rows, 5, generator=generator),
        history=csr(history_lengths, history_items, n_items),
    )
    return split, csr(train_lengths, train_items, n_items)


def per_row_sampled(model: Recommender, split: InteractionSet, negatives: torch.Tensor, n_rows: int) -> list[int]:
    """The naive reference: one interaction per forward pass, rank computed in Python."""
    ranks = []
    with torch.no_grad():
        for row in range(n_rows):
            which = torch.tensor([row])
            candidates = torch.cat([split.item[which], negatives[row]]).unsqueeze(0)
            scores = model.score_candidates(make_batch(split, which, 50), candidates).scores[0].tolist()
            ranks.append(sum(score >= scores[0] for score in scores[1:]))
    return ranks


def per_row_full(model: Recommender, split: InteractionSet, train: SparseRows, n_items: int, n_rows: int) -> list[int]:
    """The naive reference for full ranking: score the catalogue for one row, mask its train items in Python."""
    ranks = []
    all_items = torch.arange(n_items).unsqueeze(0)
    with torch.no_grad():
        for row in range(n_rows):
            which = torch.tensor([row])
            scores = model.score_candidates(make_batch(split, which, 50), all_items).scores[0].tolist()
            user, positive = int(split.user[row]), int(split.item[row])
            seen = set(train.index[train.ptr[user] : train.ptr[user + 1]].tolist()) - {positive}
            ranks.append(sum(s >= scores[positive] for i, s in enumerate(scores) if i != positive and i not in seen))
    return ranks


def agreement(vectorised: list[int], reference: list[int]) -> str:
    """Ranks can differ on near-ties only (batched vs single-row matmuls round differently)."""
    same = sum(a == b for a, b in zip(vectorised, reference))
    return f"ranks agree {same}/{len(reference)}"


def report(name: str, protocol: str, rows: int, seconds: float, fast: float, slow: float, agree: str) -> None:
    speed_up = fast / slow
    print(f"{name:<12} {protocol:<8} {rows:>7} {seconds:>8.2f} {fast:>10,.0f} {slow:>12,.0f} {speed_up:>8.0f}x {agree}")


def rate(seconds: float, rows: int) -> float:
    return rows / seconds if seconds > 0 else float("inf")


def timed(function: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4000)
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--rows", type=int, default=100_000, help="test rows for the sampled protocol")
    parser.add_argument("--full-rows", type=int, default=20_000, help="test rows for full ranking (dot product)")
    parser.add_argument("--pair-full-rows", type=int, default=2000, help="test rows for full ranking (pair MLP)")
    parser.add_argument("--loop-rows", type=int, default=1000, help="rows for the per-row Python reference")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    split, train = demo_world(args.users, args.items, args.rows)
    negatives, seconds = timed(draw_eval_negatives, split.user, train, args.items, 99, positives=split.item, seed=1)
    print(f"world: {args.users} users, {args.items} items, {args.rows} test rows, device {args.device}, "
          f"{args.threads} thread(s)")
    print(f"draw 99 negatives x {args.rows} rows: {seconds:.2f} s ({rate(seconds, args.rows):,.0f} rows/s)")
    con = duckdb.connect()
    _, seconds = timed(store_eval_negatives, con, split.event_order, negatives)
    loaded, load_seconds = timed(load_eval_negatives, con, split.event_order)
    assert torch.equal(loaded, negatives)
    print(f"store / load them in DuckDB: {seconds:.2f} s / {load_seconds:.2f} s")
    print(f"{'model':<12} {'protocol':<8} {'rows':>7} {'seconds':>8} {'rows/s':>10} {'loop rows/s':>12} "
          f"{'speed-up':>9} check")

    for name, model, full_rows in (
        ("dot-product", DotProduct(args.users, args.items), args.full_rows),
        ("pair-MLP", PairMLP(args.users, args.items), args.pair_full_rows),
    ):
        model = model.to(args.device)
        result, seconds = timed(evaluate_sampled, model, split, negatives)
        loop_ranks, loop_seconds = timed(per_row_sampled, model.cpu(), split, negatives, args.loop_rows)
        model = model.to(args.device)
        agree = agreement(result.ranks[: args.loop_rows].tolist(), loop_ranks)
        fast, slow = rate(seconds, args.rows), rate(loop_seconds, args.loop_rows)
        report(name, "sampled", args.rows, seconds, fast, slow, agree)

        rows = torch.arange(full_rows)
        result, seconds = timed(evaluate_full, model, split, train, args.items, rows=rows)
        loop_rows = min(args.loop_rows // 5, full_rows)
        loop_ranks, loop_seconds = timed(per_row_full, model.cpu(), split, train, args.items, loop_rows)
        model = model.to(args.device)
        agree = agreement(result.ranks[:loop_rows].tolist(), loop_ranks)
        fast, slow = rate(seconds, full_rows), rate(loop_seconds, loop_rows)
        report(name, "full", full_rows, seconds, fast, slow, agree)


if __name__ == "__main__":
    main()
