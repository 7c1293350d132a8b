"""Seeded synthetic reviews in the exact Amazon Reviews 2018 formats, with planted structure.

The generative story, one function per step, in the order `simulate` runs them:

1. Timelines (`_timelines`): every user writes n_u >= 5 reviews (heavy-tailed n_u), in sessions of
   a few minutes that start at realistic hours, days or weeks apart, more users joining later.
2. Catalogue (`_catalogue`): each item has a text topic (it drives the title and description), a
   taste community (invisible in the text), a heavy-tailed popularity, a release time (cold items
   are released only after 70% of all interactions, so they never appear in the training split),
   and three 'next' items.
3. Tastes (`_tastes`): each user has a main and a side topic, and a main and a side community.
4. Mechanisms (`_mechanisms`): each interaction's mechanism is drawn from the mixture planted in
   its context bucket (PLANTED_MIXTURE), so the ideal fusion gate depends on context:
     static  - a popular item of one of the user's communities    (collaborative signal: NCF)
     dynamic - a 'next' item of the user's previous item          (sequential signal: GRU)
     content - any item of one of the user's topics, preferring   (text signal: TF-IDF MLP;
               items released in the last 90 days                  ~3/4 of cold-item reviews)
5. Choices (`_choose_items`): items are picked position by position for all users at once; an
   item the user already reviewed or that is not released yet is redrawn, and a dynamic draw that
   keeps failing becomes a static one (ground truth records the mechanism that produced the item).
6. Ratings follow item quality; a few reviews are planted twice (a later duplicate of a
   (user, item) pair: readers keep the earliest).

`generate_synthetic` renders the result (synthetic_format.py) as `<category>_5.json.gz`,
`meta_<category>.json.gz` and `ground_truth_<category>.csv.gz`. Output bytes depend only on
(scale, seed, category, day_granular), so the files can be cached on those.
"""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

from hybridrec_ml.config import ALL_COMPONENTS
from hybridrec_ml.data.synthetic.file_format import (
    GROUND_TRUTH_HEADER,
    ground_truth_blocks,
    line_blocks,
    meta_lines,
    random_ids,
    review_blocks,
    write_gzip_temp,
)
from hybridrec_ml.data.transforms.context_buckets import CONTEXT_BUCKETS, bucket_of_timestamp
from hybridrec_ml.data.unix_time import SECONDS_PER_DAY
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import TableBuild

MECHANISMS = ALL_COMPONENTS  # ground-truth labels; code i is MECHANISMS[i]
STATIC, DYNAMIC, CONTENT = range(len(MECHANISMS))

# Mixture of (static, dynamic, content) planted in each context bucket. The story: at work people
# research new products by their description, in the evening they follow 'next' items in short
# browsing sessions, and at the weekend they shop by long-term taste. The realised shares differ a
# little (a user's first review cannot be dynamic): `context_buckets.planted_mechanism_shares`.
PLANTED_MIXTURE: dict[str, tuple[float, float, float]] = {
    "weekday_daytime": (0.2, 0.2, 0.6),
    "weekday_evening_night": (0.2, 0.6, 0.2),
    "weekend": (0.6, 0.2, 0.2),
}

START_TS = 1_262_304_000  # 2010-01-01 00:00 UTC
END_TS = 1_538_352_000  # 2018-10-01 00:00 UTC
# Relative frequency of session starts per UTC hour: half of them fall in weekday daytime hours.
HOUR_WEIGHTS = np.array([0.5] * 6 + [1.5] * 2 + [3.0] * 10 + [4.0] * 6)
SESSION_CONTINUE = 0.55  # chance that the next review is in the same session (mean session 2.2)
MEAN_SESSION_GAP_DAYS = 24.0
MEAN_IN_SESSION_GAP_S = 480.0
COLD_RELEASE_QUANTILES = (0.70, 0.95)  # cold items are released between these quantiles of interaction time
NOVELTY_WINDOW_S = 90 * SECONDS_PER_DAY
NOVELTY_PREFERENCE = 0.5  # share of content draws restricted to items released within the window
MAIN_TASTE = 0.7  # share of static/content draws from the main (vs side) community/topic
NEXT_ITEM_PROBS = np.array([0.6, 0.3, 0.1])  # which of an item's three 'next' items follows it
POPULARITY_EXPONENT = 1.0  # item weight ~ (popularity rank + offset) ** -exponent
SAME_MECHANISM_ATTEMPTS = 4  # redraws of a failed draw before a dynamic one turns static
STATIC_FALLBACK_ATTEMPTS = 6  # further redraws before the last resort (any released item)
# Rating = 1 + number of thresholds below (item quality + noise); thresholds give the Amazon-like
# marginal shares 7% / 5% / 8% / 20% / 60% of 1..5 stars.
ITEM_QUALITY_STD = 0.6
_RATING_CUMULATIVE = (0.07, 0.12, 0.20, 0.40)
RATING_THRESHOLDS = np.array(
    [NormalDist(sigma=float(np.hypot(1.0, ITEM_QUALITY_STD))).inv_cdf(p) for p in _RATING_CUMULATIVE]
)
MAX_DUPLICATE_DELAY_S = 60 * SECONDS_PER_DAY
_GROUP_KEY_STRIDE = 1 << 33  # > any timestamp: (group, release) packs into one sortable int64

_CATEGORY_NAME = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class SyntheticScale:
    """Sizes of one synthetic dataset; the story's behavioural knobs are the module constants above."""

    n_users: int
    n_items: int  # items that can be reviewed; the metadata file also lists unreviewed ones
    n_interactions: int  # review lines, planted duplicates included
    n_topics: int  # text topics, and as many (independent) taste communities
    max_user_interactions: int
    cold_item_fraction: float = 0.08
    duplicate_fraction: float = 0.001
    unreviewed_item_fraction: float = 0.05  # metadata-only items, as in the real metadata file
    missing_meta_fraction: float = 0.001  # reviewed items without a metadata row


SCALES: dict[str, SyntheticScale] = {
    "tiny": SyntheticScale(n_users=300, n_items=150, n_interactions=5_000, n_topics=5, max_user_interactions=40),
    "demo": SyntheticScale(n_users=3_000, n_items=1_200, n_interactions=45_000, n_topics=20, max_user_interactions=200),
    # Amazon 2018 Electronics 5-core: 9.25 reviews per user, 42.1 per item.
    "full": SyntheticScale(
        n_users=728_719, n_items=160_052, n_interactions=6_739_590, n_topics=100, max_user_interactions=400
    ),
}


@dataclass(frozen=True)
class SyntheticFiles:
    """The three files `generate_synthetic` wrote, with their sizes."""

    reviews: Path
    meta: Path
    ground_truth: Path
    n_reviews: int
    n_meta_rows: int
    n_users: int
    n_items: int  # distinct reviewed items


@dataclass(frozen=True)
class Catalogue:
    """Every item of the story, reviewable ones first."""

    topic: np.ndarray  # int64 [n_catalogue]: text topic
    community: np.ndarray  # int64 [n_catalogue]: taste community
    popularity: np.ndarray  # float64 [n_catalogue]: relative draw weight
    release: np.ndarray  # int64 [n_catalogue]: first second the item can be reviewed
    next_items: np.ndarray  # int64 [n_catalogue, 3]
    quality: np.ndarray  # float64 [n_catalogue]: shifts ratings
    n_reviewable: int  # items [0, n_reviewable) can be reviewed; the rest are metadata-only

    @property
    def cold(self) -> np.ndarray:
        return self.release > START_TS


@dataclass(frozen=True)
class SyntheticWorld:
    """The simulated interactions (one row per review line) and what generated them."""

    user: np.ndarray  # int64 [N]
    item: np.ndarray  # int64 [N]
    ts: np.ndarray  # int64 [N]: unix seconds with a real time of day
    mechanism: np.ndarray  # int8 [N]: index into MECHANISMS
    rating: np.ndarray  # int8 [N]: 1..5
    catalogue: Catalogue
    user_topics: np.ndarray  # int64 [n_users, 2]: main, side
    user_communities: np.ndarray  # int64 [n_users, 2]: main, side
    n_users: int


def resolve_scale(scale: str | SyntheticScale) -> SyntheticScale:
    if isinstance(scale, SyntheticScale):
        return scale
    if scale not in SCALES:
        raise ValueError(f"unknown synthetic scale {scale!r}; known: {', '.join(SCALES)}")
    return SCALES[scale]


def generate_synthetic(
    scale: str | SyntheticScale,
    out_dir: Path,
    *,
    seed: int = 0,
    category: str = "Electronics",
    day_granular: bool = False,
) -> SyntheticFiles:
    """Write reviews, metadata and ground truth for `scale` into `out_dir` (each file atomically).

    day_granular=True floors every timestamp to 00:00 UTC, as in Amazon 2018; mechanisms are still
    drawn from the true time of day, which the written files then no longer reveal.
    """
    if not _CATEGORY_NAME.fullmatch(category):
        raise ValueError(f"category must be letters, digits or '_' (it names files), got {category!r}")
    scale = resolve_scale(scale)
    world = simulate(scale, seed=seed)
    ts = world.ts - world.ts % SECONDS_PER_DAY if day_granular else world.ts
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "reviews": out_dir / f"{category}_5.json.gz",
        "meta": out_dir / f"meta_{category}.json.gz",
        "ground_truth": out_dir / f"ground_truth_{category}.csv.gz",
    }
    rng = np.random.default_rng([seed, 1])  # surface details: a stream independent of the story's
    item_ids = random_ids(rng, len(world.catalogue.topic), "B0", 8)
    user_ids = random_ids(rng, world.n_users, "A", 12)
    meta = meta_lines(world, item_ids, category, scale.missing_meta_fraction, rng)
    asin_rank = np.argsort(np.argsort(item_ids, kind="stable"))
    line_order = np.lexsort((ts, asin_rank[world.item]))  # grouped by asin, like the Amazon files
    writes = (
        (paths["meta"], line_blocks(meta)),
        (paths["reviews"], review_blocks(world, ts, line_order, item_ids, user_ids, rng)),
        (paths["ground_truth"], ground_truth_blocks(world, ts, line_order, item_ids, user_ids, MECHANISMS)),
    )
    temps: list[tuple[Path, Path]] = []
    try:
        for final, blocks in writes:
            temps.append((write_gzip_temp(final, blocks), final))
    except BaseException:
        for temp, _ in temps:
            temp.unlink(missing_ok=True)
        raise
    for temp, final in temps:
        os.replace(temp, final)
    return SyntheticFiles(
        reviews=paths["reviews"],
        meta=paths["meta"],
        ground_truth=paths["ground_truth"],
        n_reviews=len(world.user),
        n_meta_rows=len(meta),
        n_users=world.n_users,
        n_items=len(np.unique(world.item)),
    )


def simulate(scale: str | SyntheticScale, *, seed: int = 0) -> SyntheticWorld:
    """Run the generative story (module docstring) with all randomness from `seed`."""
    scale = resolve_scale(scale)
    n_duplicates = max(2, round(scale.duplicate_fraction * scale.n_interactions))
    _validate(scale, n_duplicates)
    rng = np.random.default_rng(seed)
    counts, ts = _timelines(scale, scale.n_interactions - n_duplicates, rng)
    catalogue = _catalogue(scale, ts, rng)
    user_topics, user_communities = _tastes(scale, catalogue, rng)
    mechanism = _mechanisms(ts, rng)
    user = np.repeat(np.arange(scale.n_users), counts)
    item, mechanism = _choose_items(counts, user, ts, mechanism, catalogue, user_topics, user_communities, rng)
    rating = _ratings(catalogue.quality[item], rng)
    original = _duplicate_candidates(ts, n_duplicates, rng)
    delay = rng.integers(SECONDS_PER_DAY, MAX_DUPLICATE_DELAY_S, size=n_duplicates)
    return SyntheticWorld(
        user=np.concatenate([user, user[original]]),
        item=np.concatenate([item, item[original]]),
        ts=np.concatenate([ts, ts[original] + delay]),
        mechanism=np.concatenate([mechanism, mechanism[original]]),
        rating=np.concatenate([rating, _ratings(catalogue.quality[item[original]], rng)]),
        catalogue=catalogue,
        user_topics=user_topics,
        user_communities=user_communities,
        n_users=scale.n_users,
    )


def _validate(scale: SyntheticScale, n_duplicates: int) -> None:
    n_warm = scale.n_items - round(scale.cold_item_fraction * scale.n_items)
    if scale.n_interactions - n_duplicates < 5 * scale.n_users:
        raise ValueError("a scale needs at least 5 interactions per user")
    if scale.n_interactions > scale.max_user_interactions * scale.n_users:
        raise ValueError("n_interactions exceeds n_users * max_user_interactions")
    if 2 * scale.max_user_interactions > n_warm:
        raise ValueError("max_user_interactions must stay below half the warm catalogue, or redraws stall")


def _timelines(scale: SyntheticScale, n_reviews: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Reviews per user and their timestamps, user-major and chronological within each user."""
    counts = _reviews_per_user(scale, n_reviews, rng)
    user = np.repeat(np.arange(scale.n_users), counts)
    first = np.zeros(n_reviews, dtype=bool)
    first[np.cumsum(counts) - counts] = True
    new_session = first | (rng.random(n_reviews) >= SESSION_CONTINUE)

    # Sessions: a day offset from the user's first session, and a start time within that day.
    session_user = user[new_session]
    gap_days = np.where(first[new_session], 0.0, 1.0 + rng.exponential(MEAN_SESSION_GAP_DAYS - 1.0, new_session.sum()))
    span_days = (END_TS - START_TS) // SECONDS_PER_DAY - 1
    active_days = np.bincount(session_user, weights=gap_days, minlength=scale.n_users)
    gap_days *= np.minimum(1.0, span_days / np.maximum(active_days, 1.0))[session_user]
    session_day = _cumsum_within(np.floor(gap_days), session_user)
    room = span_days - np.floor(np.minimum(active_days, span_days))
    join_day = np.floor(room * np.sqrt(rng.random(scale.n_users)))  # density rises over time
    hour = rng.choice(24, size=len(session_user), p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    session_start = (
        START_TS + (join_day[session_user] + session_day).astype(np.int64) * SECONDS_PER_DAY
        + hour * 3600 + rng.integers(0, 3600, size=len(session_user))
    )

    # Reviews: the session start plus minutes-apart gaps within the session.
    session_of_review = np.cumsum(new_session) - 1
    in_session_gap = np.where(new_session, 0.0, 60.0 + rng.exponential(MEAN_IN_SESSION_GAP_S, n_reviews))
    ts = session_start[session_of_review] + _cumsum_within(in_session_gap, session_of_review).astype(np.int64)
    return counts, _strictly_increasing_within(ts, user, min_gap=60)


def _reviews_per_user(scale: SyntheticScale, n_reviews: int, rng: np.random.Generator) -> np.ndarray:
    """5 + a lognormal extra per user, capped, summing exactly to n_reviews."""
    extra_total = n_reviews - 5 * scale.n_users
    cap = scale.max_user_interactions - 5
    shape = rng.lognormal(0.0, 1.1, scale.n_users)
    factor = extra_total / shape.sum()
    for _ in range(50):  # rescale the uncapped users until the capped sum hits the target
        factor *= extra_total / np.minimum(shape * factor, cap).sum()
    extra = np.minimum(shape * factor, cap)
    whole = np.floor(extra).astype(np.int64)
    shortfall = extra_total - int(whole.sum())
    whole[np.argsort(whole - extra, kind="stable")[:shortfall]] += 1  # largest fractional parts
    return 5 + whole


def _catalogue(scale: SyntheticScale, ts: np.ndarray, rng: np.random.Generator) -> Catalogue:
    n_reviewable = scale.n_items
    n_total = n_reviewable + round(scale.unreviewed_item_fraction * n_reviewable)
    topic = rng.integers(0, scale.n_topics, n_total)
    community = rng.integers(0, scale.n_topics, n_total)
    rank = rng.permutation(n_total)
    popularity = (rank + 1.0 + 0.001 * n_total) ** -POPULARITY_EXPONENT

    release = np.full(n_total, START_TS, dtype=np.int64)
    cold = rng.choice(n_reviewable, size=round(scale.cold_item_fraction * n_reviewable), replace=False)
    lo, hi = np.quantile(ts, COLD_RELEASE_QUANTILES).astype(np.int64)
    release[cold] = rng.integers(lo, hi, size=len(cold))

    # 'Next' items: any other reviewable item, popular ones more often, unrelated to topic or
    # community so that only a sequence model can learn them.
    weights = popularity[:n_reviewable] ** 0.8
    next_items = np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random((n_total, 3)), side="right")
    next_items = np.minimum(next_items, n_reviewable - 1)
    own = next_items == np.arange(n_total)[:, None]
    next_items[own] = (next_items[own] + 1) % n_reviewable
    quality = rng.normal(0.0, ITEM_QUALITY_STD, n_total)
    return Catalogue(topic, community, popularity, release, next_items, quality, n_reviewable)


def _tastes(scale: SyntheticScale, catalogue: Catalogue, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(main, side) topic and (main, side) community per user, chosen in proportion to group size."""

    def two_distinct(group: np.ndarray) -> np.ndarray:
        size = np.bincount(group[: catalogue.n_reviewable], minlength=scale.n_topics).astype(np.float64)
        cdf = np.cumsum(size) / size.sum()
        main = np.searchsorted(cdf, rng.random(scale.n_users), side="right")
        side = (main + rng.integers(1, scale.n_topics, scale.n_users)) % scale.n_topics
        return np.stack([main, side], axis=1)

    return two_distinct(catalogue.topic), two_distinct(catalogue.community)


def _mechanisms(ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mixture = np.array([PLANTED_MIXTURE[name] for name in CONTEXT_BUCKETS])
    cumulative = np.cumsum(mixture, axis=1)[bucket_of_timestamp(ts)]
    return (rng.random(len(ts))[:, None] >= cumulative[:, :-1]).sum(axis=1).astype(np.int8)


class _ReleasedItems:
    """Items sorted by (group, release) with cumulative weights: a weighted draw among the items a
    group released within a time window is two binary searches, with no rejection loop."""

    def __init__(self, group: np.ndarray, release: np.ndarray, weight: np.ndarray) -> None:
        self.order = np.lexsort((release, group))
        self.key = group[self.order] * _GROUP_KEY_STRIDE + release[self.order]
        self.cum_weight = np.concatenate([[0.0], np.cumsum(weight[self.order])])

    def draw(self, group: np.ndarray, since: np.ndarray, until: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One item per row among `group`'s items released in [since, until]; -1 where there is none."""
        lo = np.searchsorted(self.key, group * _GROUP_KEY_STRIDE + since, side="left")
        hi = np.searchsorted(self.key, group * _GROUP_KEY_STRIDE + until, side="right")
        target = self.cum_weight[lo] + rng.random(len(group)) * (self.cum_weight[hi] - self.cum_weight[lo])
        position = np.clip(np.searchsorted(self.cum_weight, target, side="right") - 1, lo, hi - 1)
        return np.where(hi > lo, self.order[position], -1)


class _Sampler:
    """Draws a candidate item per row for each mechanism."""

    def __init__(self, catalogue: Catalogue, user_topics: np.ndarray, user_communities: np.ndarray) -> None:
        reviewable = slice(0, catalogue.n_reviewable)
        release = catalogue.release[reviewable]
        self.catalogue = catalogue
        self.user_topics = user_topics
        self.user_communities = user_communities
        self.by_community = _ReleasedItems(catalogue.community[reviewable], release, catalogue.popularity[reviewable])
        self.by_topic = _ReleasedItems(catalogue.topic[reviewable], release, np.ones(len(release)))
        self.anything = _ReleasedItems(np.zeros(len(release), dtype=np.int64), release, np.ones(len(release)))

    def draw(
        self, mechanism: np.ndarray, user: np.ndarray, ts: np.ndarray, previous: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        item = np.empty(len(user), dtype=np.int64)
        for code, draw in ((STATIC, self.static), (DYNAMIC, self.dynamic), (CONTENT, self.content)):
            rows = mechanism == code
            item[rows] = draw(user[rows], ts[rows], previous[rows], rng)
        return item

    def static(self, user: np.ndarray, ts: np.ndarray, previous: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        community = self.user_communities[user, (rng.random(len(user)) >= MAIN_TASTE).astype(np.int64)]
        return self.by_community.draw(community, np.zeros_like(ts), ts, rng)

    def dynamic(self, user: np.ndarray, ts: np.ndarray, previous: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        which = np.searchsorted(np.cumsum(NEXT_ITEM_PROBS), rng.random(len(user)), side="right")
        item = self.catalogue.next_items[previous, np.minimum(which, len(NEXT_ITEM_PROBS) - 1)]
        return np.where(self.catalogue.release[item] <= ts, item, -1)

    def content(self, user: np.ndarray, ts: np.ndarray, previous: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        topic = self.user_topics[user, (rng.random(len(user)) >= MAIN_TASTE).astype(np.int64)]
        novel = rng.random(len(user)) < NOVELTY_PREFERENCE
        item = self.by_topic.draw(topic, np.where(novel, ts - NOVELTY_WINDOW_S, 0), ts, rng)
        stale = item < 0  # no recent release in that topic: any released item of it
        item[stale] = self.by_topic.draw(topic[stale], np.zeros(stale.sum(), dtype=np.int64), ts[stale], rng)
        return item

    def any_released(self, ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.anything.draw(np.zeros(len(ts), dtype=np.int64), np.zeros_like(ts), ts, rng)


def _choose_items(
    counts: np.ndarray,
    user: np.ndarray,
    ts: np.ndarray,
    mechanism: np.ndarray,
    catalogue: Catalogue,
    user_topics: np.ndarray,
    user_communities: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Item of every interaction, and the mechanism that actually produced it.

    Position t of every user is filled in one vectorised step (dynamic draws need position t-1).
    Rows whose draw fails (already reviewed, not released, no 'next' item) are redrawn with the same
    mechanism, then dynamic ones as static; the last resort, any released item the user has not
    reviewed, keeps the row's label and is rare (a handful of rows on the tiny scale).
    """
    sampler = _Sampler(catalogue, user_topics, user_communities)
    mechanism = mechanism.copy()
    item = np.full(len(user), -1, dtype=np.int64)
    start = np.cumsum(counts) - counts
    longest_first = np.argsort(-counts, kind="stable")
    n_active = len(counts) - np.cumsum(np.bincount(counts))  # users with more than t reviews
    for t in range(int(counts.max())):
        rows = start[longest_first[: n_active[t]]] + t
        if t == 0:
            mechanism[rows[mechanism[rows] == DYNAMIC]] = STATIC  # no previous item to follow
        pending = rows
        for attempt in range(SAME_MECHANISM_ATTEMPTS + STATIC_FALLBACK_ATTEMPTS):
            if attempt == SAME_MECHANISM_ATTEMPTS:
                mechanism[pending[mechanism[pending] == DYNAMIC]] = STATIC
            candidate = sampler.draw(mechanism[pending], user[pending], ts[pending], item[pending - 1], rng)
            pending = _accept(candidate, pending, t, item)
            if len(pending) == 0:
                break
        while len(pending):
            pending = _accept(sampler.any_released(ts[pending], rng), pending, t, item)
    return item, mechanism


def _accept(candidate: np.ndarray, rows: np.ndarray, t: int, item: np.ndarray) -> np.ndarray:
    """Store candidates the user has not reviewed in positions 0..t-1; return the rows still empty."""
    earlier = item[(rows - t)[:, None] + np.arange(t)]
    ok = (candidate >= 0) & ~(earlier == candidate[:, None]).any(axis=1)
    item[rows[ok]] = candidate[ok]
    return rows[~ok]


def _ratings(quality: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (1 + np.searchsorted(RATING_THRESHOLDS, quality + rng.normal(size=len(quality)))).astype(np.int8)


def _duplicate_candidates(ts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct reviews early enough that a re-review within MAX_DUPLICATE_DELAY_S stays in range."""
    eligible = np.flatnonzero(ts < END_TS - MAX_DUPLICATE_DELAY_S)
    return np.sort(rng.choice(eligible, size=n, replace=False))


def _cumsum_within(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Inclusive running sum restarting at each new value of `group` (rows grouped contiguously)."""
    total = np.cumsum(values)
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    before_group = (total - values)[first]
    return total - np.repeat(before_group, np.diff(np.r_[first, len(values)]))


def _strictly_increasing_within(ts: np.ndarray, user: np.ndarray, min_gap: int) -> np.ndarray:
    """Push each timestamp to >= the user's previous one + min_gap (sessions may overlap after
    squeezing a long history into the time range)."""
    offset = user.astype(np.int64) << 40  # separates users in one running maximum
    shift = min_gap * np.arange(len(ts), dtype=np.int64)
    return np.maximum.accumulate(offset + ts - shift) - offset + shift


def ground_truth_build(path: Path) -> TableBuild:
    """How schema.GROUND_TRUTH is built from a ground-truth CSV written by `generate_synthetic`.

    It is swapped in by `replace_tables` together with the raw tables it describes.
    """
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n")
    if header != GROUND_TRUTH_HEADER:
        raise ValueError(f"{path}: header {header!r}, expected {GROUND_TRUTH_HEADER!r}")
    types = {name: declared.removesuffix(" NOT NULL") for name, declared in schema.GROUND_TRUTH_COLUMNS.items()}
    columns = "{" + ", ".join(f"'{name}': '{typ}'" for name, typ in types.items()) + "}"
    select = (
        f"SELECT {schema.column_list(schema.GROUND_TRUTH_COLUMNS)} FROM read_csv(?, header = true, columns = {columns})"
    )
    return TableBuild(schema.GROUND_TRUTH, schema.GROUND_TRUTH_COLUMNS, select, [str(path)])
