"""Tiny hand-checkable inputs: a 2-user, 6-item world and models whose scores are a fixed table."""

from __future__ import annotations

import pytest
import torch

from hybridrec_ml.tensors.bundle import InteractionSet, SparseRows, UserTimeline
from hybridrec_ml.tensors.bundle_loader import user_timeline
from hybridrec_ml.models.base import Recommender, Scores
from hybridrec_ml.tensors.batch import Batch

SCORE_TABLE = torch.tensor(
    [
        [0.9, 0.1, 0.5, 0.5, 0.3, 0.7],  # user 0
        [0.2, 0.8, 0.4, 0.6, 0.0, 0.6],  # user 1
    ]
)
ALPHA_BY_USER = torch.tensor([[0.8, 0.1, 0.1], [0.2, 0.4, 0.4]])


class TableScorer(Recommender):
    """Pair scoring only: score(user, item) = table[user, item]; alpha fixed per user (SCORE_TABLE's users)."""

    def __init__(self, with_alpha: bool = True, table: torch.Tensor = SCORE_TABLE) -> None:
        super().__init__()
        self.register_buffer("table", table.clone())
        self.with_alpha = with_alpha

    def _alpha(self, batch: Batch) -> torch.Tensor | None:
        return ALPHA_BY_USER[batch.user] if self.with_alpha else None

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        return Scores(self.table[batch.user.unsqueeze(1), candidates], self._alpha(batch))


class TableScorerWithCatalogue(TableScorer):
    """The same scores, also through the full-catalogue fast path."""

    def score_all_items(self, batch: Batch) -> Scores:
        return Scores(self.table[batch.user], self._alpha(batch))


def sparse_rows(rows: list[list[int]], n_cols: int) -> SparseRows:
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
    ptr = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])
    index = torch.tensor([i for r in rows for i in r], dtype=torch.int64)
    return SparseRows(ptr=ptr, index=index, weight=None, n_cols=n_cols)


@pytest.fixture
def test_split() -> InteractionSet:
    """Rows: (user 0, item 3), (user 0, item 0: also a training item), (user 1, item 5), (user 1, item 4)."""
    return InteractionSet(
        event_order=torch.tensor([100, 101, 102, 103]),
        user=torch.tensor([0, 0, 1, 1]),
        item=torch.tensor([3, 0, 5, 4]),
        context=torch.zeros(4, 5),
        history=sparse_rows([[0, 2], [0, 2, 3], [1], [1, 5]], 6),
    )


def timeline(events: list[tuple[int, int, int]], n_users: int, n_items: int) -> UserTimeline:
    """A `UserTimeline` from (event_order, user, item) triples in any order."""
    event_order, user, item = (torch.tensor(column, dtype=torch.int64) for column in zip(*events))
    return user_timeline(user, item, event_order, n_users, n_items)


@pytest.fixture
def train_items() -> UserTimeline:
    """User 0 trained on items 0 and 2 (item 0 twice, as a repeat purchase); user 1 on item 1. All before the test rows."""
    return timeline([(1, 0, 0), (2, 0, 2), (3, 0, 0), (4, 1, 1)], 2, 6)
