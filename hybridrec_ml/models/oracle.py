"""The Bayes oracle of the synthetic world: each candidate's true probability of being the next review.

For a row of user u at position t of u's true timeline, at true time T, after true previous item p,
the generator (`synthetic._choose_items`) drew a mechanism m from the mixture of T's context bucket
(dynamic becomes static at t = 0), then per attempt an item from m's distribution q_m, redrawing
while the draw failed (not released, no draw possible, or already reviewed: the set E of u's items
at positions < t). With f_m the failure mass of one attempt and A = 4, F = 6 attempts:

    P(i | static or content) = q_m(i) (1 - f_m^(A+F)) / (1 - f_m) + f_m^(A+F) U(i)
    P(i | dynamic)           = q_d(i) (1 - f_d^A) / (1 - f_d) + f_d^A P_F(i | static)
    P(i)                     = sum_m w_m(bucket(T)) P(i | m)

for released i not in E (0 otherwise), where U is uniform over released items not in E (the last
resort) and P_F(i | static) is the static formula with F attempts. This is exact: the per-mechanism
rows sum to 1 over the catalogue. The oracle is told each evaluated row's true time, true previous
item and true position (what the generator conditioned on); it never looks at the positive when it
scores. Equal probabilities are broken by a fixed random order of the items (the expected value of
random tie-breaking; the evaluator counts ties against the positive).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch

from hybridrec_ml.config import ALL_COMPONENTS
from hybridrec_ml.tensors.bundle import InteractionSet
from hybridrec_ml.data.transforms.context_buckets import CONTEXT_BUCKETS, bucket_of_timestamp
from hybridrec_ml.data.synthetic.truth import PlantedTruth
from hybridrec_ml.models.base import Recommender, Scores
from hybridrec_ml.tensors.batch import Batch

STATIC, DYNAMIC, CONTENT = range(len(ALL_COMPONENTS))
_TIE_BREAK = 1e-4  # relative jitter: far below any gap between distinct probabilities that matters
_TIE_SEED = 20_260_101


def planted_mixture(truth: PlantedTruth) -> np.ndarray:
    """[n_buckets, 3] mechanism weights per context bucket, as the generator used them."""
    return np.array(
        [[truth.story[f"mixture_{bucket}_{m}"] for m in ALL_COMPONENTS] for bucket in CONTEXT_BUCKETS]
    )


def mechanism_probabilities(
    truth: PlantedTruth, user: np.ndarray, position: np.ndarray, ts: np.ndarray, previous: np.ndarray
) -> np.ndarray:
    """[B, 3, I] P(item | mechanism drawn) for rows of generator users at timeline positions, true times
    and true previous items (-1 at position 0), over the generator's items (module docstring)."""
    n_rows, n_items = len(user), truth.n_items
    rows = np.arange(n_rows)
    released = truth.item_release[None, :] <= ts[:, None]
    reviewed = np.zeros((n_rows, n_items), dtype=bool)
    owner = np.repeat(rows, position)
    offset = np.arange(owner.size) - np.repeat(np.cumsum(position) - position, position)
    reviewed[owner, truth.timeline_item[truth.timeline_ptr[user][owner] + offset]] = True
    allowed = released & ~reviewed

    main_taste = truth.story["main_taste"]
    static = np.zeros((n_rows, n_items))
    content = np.zeros((n_rows, n_items))
    novel_since = ts - int(truth.story["novelty_window_s"])
    novelty = truth.story["novelty_preference"]
    for side, share in ((0, main_taste), (1, 1.0 - main_taste)):
        members = (truth.item_community[None, :] == truth.user_communities[user, side][:, None]) & released
        weight = members * truth.item_popularity[None, :]
        static += share * _normalised(weight)
        topical = (truth.item_topic[None, :] == truth.user_topics[user, side][:, None]) & released
        recent = topical & (truth.item_release[None, :] >= novel_since[:, None])
        any_recent = recent.any(axis=1, keepdims=True)
        novel_draw = np.where(any_recent, _normalised(recent), _normalised(topical))
        content += share * (novelty * novel_draw + (1.0 - novelty) * _normalised(topical))

    dynamic = np.zeros((n_rows, n_items))
    has_previous = previous >= 0
    for k in range(truth.next_items.shape[1]):
        nxt = truth.next_items[np.maximum(previous, 0), k]
        np.add.at(dynamic, (rows[has_previous], nxt[has_previous]), truth.story[f"next_item_prob_{k}"])
    dynamic *= released

    same, fallback = int(truth.story["same_mechanism_attempts"]), int(truth.story["static_fallback_attempts"])
    last_resort = _normalised(allowed)
    static_after = {n: _with_redraws(static, allowed, n, last_resort) for n in (same + fallback, fallback)}
    out = np.empty((n_rows, len(ALL_COMPONENTS), n_items))
    out[:, STATIC] = static_after[same + fallback]
    out[:, CONTENT] = _with_redraws(content, allowed, same + fallback, last_resort)
    out[:, DYNAMIC] = _with_redraws(dynamic, allowed, same, static_after[fallback])
    out[~has_previous, DYNAMIC] = out[~has_previous, STATIC]  # a first review cannot be dynamic
    return out


def _normalised(weight: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (all-zero rows stay zero: that draw always fails)."""
    total = weight.sum(axis=1, keepdims=True, dtype=np.float64)
    return np.divide(weight, total, out=np.zeros(weight.shape), where=total > 0)


def _with_redraws(draw: np.ndarray, allowed: np.ndarray, attempts: int, otherwise: np.ndarray) -> np.ndarray:
    """Distribution of the accepted item when `draw` is tried `attempts` times, then `otherwise`."""
    accepted = draw * allowed
    fail = np.clip(1.0 - accepted.sum(axis=1, keepdims=True), 0.0, 1.0)
    series = sum(fail**a for a in range(attempts))  # (1 - f^n) / (1 - f), also at f = 1
    return accepted * series + fail**attempts * otherwise


class PlantedOracle(Recommender):
    """Ranks by the true P(item | user, previous item, time, bucket); nothing to train.

    mixture=None uses the planted mixture of each row's true context bucket (the Bayes oracle);
    a fixed (static, dynamic, content) weight vector gives a context-free oracle, a one-hot one a
    per-mechanism oracle. `splits` are the interaction sets whose rows it may be asked to score.
    `remix` gives the same oracle under another mixture, sharing a cache of the per-mechanism
    probabilities of the batches scored so far (a study of many mixtures computes them once).
    """

    trainable = False

    def __init__(
        self, truth: PlantedTruth, splits: Sequence[InteractionSet], n_items: int, mixture: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        self.truth = truth
        self.n_items = n_items
        self.mixture = None if mixture is None else np.asarray(mixture, dtype=np.float64)
        self.candidate_item = truth.item_of_index[:n_items]
        tie_order = np.random.default_rng(_TIE_SEED).random(truth.n_items)
        self.tie_factor = 1.0 + _TIE_BREAK * tie_order
        self._index_rows(splits)
        self._per_mechanism: dict[bytes, np.ndarray] = {}
        self._shares_cache = False  # the pipeline's oracle scores each row once: no cache

    def remix(self, mixture: Sequence[float] | None) -> PlantedOracle:
        """This oracle with another mixture (None: the planted one per bucket); shares the row cache."""
        self._shares_cache = True
        other = copy.copy(self)
        other.mixture = None if mixture is None else np.asarray(mixture, dtype=np.float64)
        return other

    def _index_rows(self, splits: Sequence[InteractionSet]) -> None:
        """Row key (user_idx, last history item) -> the row's true position, time and previous item."""
        truth = self.truth
        user = np.concatenate([s.user.numpy() for s in splits])
        item = np.concatenate([s.item.numpy() for s in splits])
        last = np.concatenate([_last_history_item(s) for s in splits])
        gen_user, gen_item = truth.user_of_index[user], truth.item_of_index[item]
        timeline_owner = np.repeat(np.arange(len(truth.timeline_ptr) - 1), np.diff(truth.timeline_ptr))
        timeline_key = timeline_owner * truth.n_items + truth.timeline_item
        order = np.argsort(timeline_key)
        found = order[np.searchsorted(timeline_key[order], gen_user * truth.n_items + gen_item)]
        if not np.array_equal(timeline_key[found], gen_user * truth.n_items + gen_item):
            raise ValueError("an interaction has no ground-truth row: the planted tables are stale")
        position = found - truth.timeline_ptr[gen_user]
        key = self._key(user, last)
        self.key_order = np.argsort(key)
        self.sorted_key = key[self.key_order]
        self.row_user, self.row_position, self.row_ts = gen_user, position, truth.timeline_ts[found]
        self.row_previous = np.where(position > 0, truth.timeline_item[np.maximum(found - 1, 0)], -1)

    def true_buckets(self, split: InteractionSet) -> np.ndarray:
        """Context bucket of each row of `split` from its TRUE time (day-granular data floors the stored one)."""
        key = self._key(split.user.numpy(), _last_history_item(split))
        at = np.minimum(np.searchsorted(self.sorted_key, key), len(self.sorted_key) - 1)
        if not np.array_equal(self.sorted_key[at], key):
            raise ValueError("the oracle was asked about a row outside the splits it was built for")
        return bucket_of_timestamp(self.row_ts[self.key_order[at]])

    def _key(self, user: np.ndarray, last_item: np.ndarray) -> np.ndarray:
        return user.astype(np.int64) * (self.n_items + 1) + last_item + 1

    def row_probabilities(self, batch: Batch) -> np.ndarray:
        """[B, n_items] true probability of every bundle item for each row of the batch."""
        lengths = batch.history_len.cpu().numpy()
        history = batch.history.cpu().numpy()
        last = np.where(lengths > 0, history[np.arange(len(lengths)), np.maximum(lengths - 1, 0)] - 1, -1)
        key = self._key(batch.user.cpu().numpy(), last)
        at = np.minimum(np.searchsorted(self.sorted_key, key), len(self.sorted_key) - 1)
        if not np.array_equal(self.sorted_key[at], key):
            raise ValueError("the oracle was asked to score a row outside the splits it was built for")
        row = self.key_order[at]
        user, ts = self.row_user[row], self.row_ts[row]
        cache_key = row.tobytes()
        per_mechanism = self._per_mechanism.get(cache_key)
        if per_mechanism is None:
            per_mechanism = mechanism_probabilities(self.truth, user, self.row_position[row], ts, self.row_previous[row])
            per_mechanism = per_mechanism[:, :, self.candidate_item]
            if self._shares_cache:
                self._per_mechanism[cache_key] = per_mechanism
        weights = planted_mixture(self.truth)[bucket_of_timestamp(ts)] if self.mixture is None else self.mixture[None, :]
        return np.einsum("bm,bmi->bi", weights, per_mechanism)

    def score_all_items(self, batch: Batch) -> Scores:
        scores = self.row_probabilities(batch) * self.tie_factor[self.candidate_item]
        return Scores(torch.from_numpy(scores).float().to(batch.user.device), None)

    def score_candidates(self, batch: Batch, candidates: torch.Tensor) -> Scores:
        everything = self.score_all_items(batch).scores
        return Scores(everything.gather(1, candidates), None)


def _last_history_item(split: InteractionSet) -> np.ndarray:
    """Last history item_idx of each row (-1 for an empty history)."""
    ptr, index = split.history.ptr.numpy(), split.history.index.numpy()
    has = ptr[1:] > ptr[:-1]
    return np.where(has, index[np.maximum(ptr[1:] - 1, 0)] if index.size else -1, -1)
