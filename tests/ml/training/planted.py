"""A tiny bundle with planted structure, built in code, and a full-ranking NDCG@10 to validate with.

Users belong to one of 4 groups of 8 items and walk their group's items in a fixed cyclic order
(user-specific start). Each item's TF-IDF row holds its group's term and its own term. So the
user (static), the previous items (dynamic) and the item text (content) all predict the next item.
"""

import math

import torch

from hybridrec_ml.models.base import Recommender
from hybridrec_ml.tensors.batching import make_batch
from hybridrec_ml.tensors.bundle import InteractionSet, SparseRows, TrainingBundle
from hybridrec_ml.tensors.bundle_loader import csr_from_pairs, unique_items_by_user, user_timeline

N_GROUPS, GROUP_SIZE = 4, 8


def since_previous(step: int, user: int) -> int:
    """Seconds between a user's steps: step s happens at s² hours × (user + 1), so the gaps grow; -1 at step 0."""
    return (2 * step - 1) * 3600 * (user + 1) if step else -1


def planted_bundle(n_users: int = 48, per_user: int = 12, max_history: int = 50, seed: int = 0) -> TrainingBundle:
    """Per user: the first per_user - 2 steps are train, then one val and one test step."""
    n_items = N_GROUPS * GROUP_SIZE
    g = torch.Generator().manual_seed(seed)
    group = torch.arange(n_users) % N_GROUPS
    start = torch.randint(0, GROUP_SIZE, (n_users,), generator=g)
    steps = torch.arange(per_user)
    walk = group.unsqueeze(1) * GROUP_SIZE + (start.unsqueeze(1) + steps) % GROUP_SIZE  # [users, per_user]
    context = torch.rand(n_users, per_user, 5, generator=g)

    def interactions(step_lo: int, step_hi: int) -> InteractionSet:
        rows = [(s, u) for s in range(step_lo, step_hi) for u in range(n_users)]  # time-major: a global split
        histories = [walk[u, max(0, s - max_history) : s].tolist() for s, u in rows]
        lengths = torch.tensor([len(h) for h in histories])
        ptr = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(lengths, 0)])
        return InteractionSet(
            event_order=torch.tensor([s * n_users + u for s, u in rows]),
            user=torch.tensor([u for _, u in rows]),
            item=torch.tensor([walk[u, s].item() for s, u in rows]),
            context=torch.stack([context[u, s] for s, u in rows]),
            history=SparseRows(ptr, torch.tensor([i for h in histories for i in h], dtype=torch.int64), None, n_items),
            since_previous=torch.tensor([since_previous(s, u) for s, u in rows]),
        )

    train = interactions(0, per_user - 2)
    items = torch.arange(n_items)
    tfidf = csr_from_pairs(
        items.repeat_interleave(2),
        torch.stack([items // GROUP_SIZE, N_GROUPS + items], dim=1).flatten(),  # group term, own term
        torch.tensor([0.8, 0.6]).repeat(n_items),
        n_rows=n_items,
        n_cols=N_GROUPS + n_items,
    )
    val, test = interactions(per_user - 2, per_user - 1), interactions(per_user - 1, per_user)
    every = [torch.cat([getattr(split, name) for split in (train, val, test)]) for name in ("user", "item", "event_order")]
    return TrainingBundle(
        n_users=n_users,
        n_items=n_items,
        train=train,
        val=val,
        test=test,
        tfidf=tfidf,
        train_items_by_user=unique_items_by_user(train.user, train.item, n_users, n_items),
        timeline=user_timeline(*every, n_users, n_items),
        user_train_count=torch.bincount(train.user, minlength=n_users),
        item_train_count=torch.bincount(train.item, minlength=n_items),
    )


def full_ranking_ndcg_at_10(model: Recommender, split: InteractionSet, n_items: int) -> float:
    """Mean NDCG@10 of each row's positive ranked against the whole catalogue (ties count against it)."""
    batch = make_batch(split, torch.arange(len(split)), 50)
    scores = model.score_candidates(batch, torch.arange(n_items).expand(len(split), -1)).scores
    positive = scores.gather(1, split.item.unsqueeze(1))
    rank = (scores >= positive).sum(dim=1) - 1
    gains = torch.where(rank < 10, 1.0 / torch.log2(rank.double() + 2), torch.zeros((), dtype=torch.float64))
    return float(gains.mean())


def random_ndcg_at_10(n_items: int) -> float:
    """Expected NDCG@10 of a uniformly random ranking: the positive's rank is uniform on 0..n_items-1."""
    return sum(1 / math.log2(r + 2) for r in range(min(10, n_items))) / n_items
