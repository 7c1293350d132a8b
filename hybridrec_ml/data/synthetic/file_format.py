"""The surface of the synthetic dataset: a simulated world rendered as Amazon 2018 files.

Nothing here changes who reviewed what. It supplies what a reader of the real files must cope
with: IDs, titles and descriptions drawn from topic word distributions, optional and oddly typed
fields (vote strings with thousands separators, style dicts, rank as string or list, junk prices,
HTML in titles), escaped quotes and non-ASCII text, and deterministic gzip output.

Review lines are assembled from pre-rendered JSON fragments indexed with numpy and joined in
chunks, so millions of lines cost a few seconds; metadata (one line per item) uses json.dumps.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain, product
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hybridrec_ml.atomic import temp_file_beside
from hybridrec_ml.data.unix_time import SECONDS_PER_DAY

if TYPE_CHECKING:
    from hybridrec_ml.data.synthetic.generator import SyntheticWorld

GROUND_TRUTH_HEADER = "reviewerID,asin,unixReviewTime,mechanism"
GZIP_LEVEL = 4
LINES_PER_BLOCK = 250_000
_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_IMAGE_HOST = "https://images-na.ssl-images-amazon.com/images/I/"

# --- text ----------------------------------------------------------------------------------------
_BACKGROUND_WORDS = (
    "black white silver blue red cable adapter usb wireless portable compatible case cover charger "
    "pack premium high speed durable mount kit replacement power battery digital mini pro lightweight "
    "quality design easy use perfect device new upgraded universal smart protection compact slim heavy "
    "duty travel home office car stand holder strap screen protector clear soft shockproof fast charging "
    "port cord extension long short audio video hdmi stereo bluetooth remote control led light sensor "
    "camera lens tripod filter memory card storage drive external keyboard mouse gaming ergonomic "
    "rechargeable waterproof outdoor indoor set of includes warranty inch feet meter for with and"
).split()
_TOPIC_WORDS_PER_TOPIC = 30
_BRANDS_PER_TOPIC = 4
_TOPIC_WORD_SHARE = 0.65  # of the words of a title, description or feature
_TOPIC_WORD_ZIPF = 0.8
_ONSETS = ("b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cr", "tr", "pl", "st")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "eo")
_CODAS = ("", "", "n", "r", "x", "l", "s", "m")
_PRODUCT_NOUNS = (
    "Accessories", "Cables", "Headphones", "Cameras", "Chargers", "Speakers", "Cases", "Adapters",
    "Monitors", "Keyboards", "Storage", "Receivers",
)  # fmt: skip
_SECTIONS = (
    "Computers & Accessories", "Camera & Photo", "Cell Phones & Accessories", "Home Audio & Theater",
    "Car Electronics", "Portable Audio & Accessories", "Television & Video", "Accessories & Supplies",
)  # fmt: skip
_MAIN_CATS = ("All Electronics", "Computers", "Camera & Photo", "Cell Phones & Accessories", "Home Audio & Theater")
_JUNK_MAIN_CAT = (
    '<img src="https://images-na.ssl-images-amazon.com/images/G/01/nav2/images/gui/'
    'amazon-fashion-store-new._CB520838675_.png" class="nav-categ-image" alt="AMAZON FASHION"/>'
)
_JUNK_TITLES = (
    "var aPageStart = (new Date()).getTime();",
    '<span id="productTitle">var ue_t0=ue_t0||+new Date();</span> (new Date()).getTime()',
)
_JUNK_PRICE = ".a-box-inner{background-color:#fff}.a-box-thumbnail{max-width:100%}"
_JUNK_DATE = '<div class="a-fixed-left-grid a-spacing-none"><div class="a-fixed-left-grid-inner">'
_JUNK_SIMILAR = '<table id="HLCXComparisonTable" class="a-bordered a-horizontal-stripes"><tr><td></td></tr></table>'
_OPTIONAL_META_KEYS = ("tech1", "fit", "tech2", "similar_item", "details", "date", "main_cat", "rank")

_SENTENCES = {
    "negative": (
        "Stopped working after a week.", "Returned it.", "Cheaply made.", "Did not work with my laptop.",
        "Arrived broken.", "Waste of money.", "The connector is loose.", "Worked for a month, then nothing.",
        'The "fast charging" claim is false.', "Très déçu.",
    ),
    "neutral": (
        "It is okay.", "Does what it says but nothing special.", "A bit smaller than I expected.",
        "Works, but the cable is short.", "Average quality.", "Took a while to figure out.",
        "Instructions could be better.", "Fine for the price.",
    ),
    "positive": (
        "Works great.", "Exactly as described.", "Great value for the money.", "Would buy again.",
        "I use it every day and it works perfectly.", "Fast shipping and well packaged.",
        "Sound quality is excellent.", "Easy to set up.", "Does the job.", "My son loves it.",
        "Good quality for the price.", "Highly recommended!", "Fits perfectly.", "Battery lasts a long time.",
        'Works with my 15" laptop.', "Perfect for travel, 5 stars.",
    ),
}  # fmt: skip
_SUMMARIES = {
    1: ("One Star", "Junk", "Do not buy", "Broke quickly"),
    2: ("Two Stars", "Disappointed", "Not great"),
    3: ("Three Stars", "OK", "Meh", "It works"),
    4: ("Four Stars", "Good", "Works well", "Nice"),
    5: ("Five Stars", "Great product", "Love it", "Excellent", "Perfect"),
}
_FIRST_NAMES = (
    "John", "Mary", "David", "Linda", "Michael", "Susan", "James", "Karen", "Robert", "Lisa", "Chris",
    "Jennifer", "Mike", "Sarah", "José", "Zoë", "Björn", "Anne-Marie",
)  # fmt: skip
_SURNAMES = ("Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Nguyen", "O'Brien", "Müller")
_STYLE_OPTIONS: tuple[dict[str, tuple[str, ...]], ...] = (
    {"Color:": (" Black", " White", " Blue", " Red", " Silver")},
    {"Size:": (" 3 ft", " 6 ft", " 10 ft", " Small", " Large")},
    {"Capacity:": (" 16GB", " 32GB", " 64GB", " 128GB")},
    {"Style:": (" Pack of 2", " Single", " Bundle")},
    {"Size:": (" 32GB", " 64GB"), "Style:": (" Base", " Pro")},
    {"Color:": (" Black", " Gray"), "Package Type:": (" Standard Packaging", " Frustration-Free Packaging")},
    {"Format:": (" Audio CD", " DVD")},
)
_STYLED_ITEM_SHARE = 0.45
_STYLED_REVIEW_SHARE = 0.9  # of the reviews of an item that has style options

# Shares of reviews with each optional field (Amazon 2018 Electronics, roughly).
_VOTE_SHARE = 0.15
_VOTE_TAIL = 0.75  # Pareto index of vote counts: ~1% of shown votes reach 1,000 ("1,234")
_VERIFIED_SHARE = 0.8
_NAMED_REVIEW_SHARE = 0.97
_TEXT_SHARE = 0.999
_SUMMARY_SHARE = 0.9995
_IMAGE_SHARE = 0.02


def _json_text(text: str) -> str:
    """The JSON string literal of `text` (ASCII with \\u escapes, like the Amazon files)."""
    return json.dumps(text)


def random_ids(rng: np.random.Generator, n: int, prefix: str, n_chars: int) -> np.ndarray:
    """n distinct IDs: `prefix` + n_chars of [0-9A-Z] (n_chars <= 12 so the space fits in int64)."""
    while True:
        values = rng.integers(0, 36**n_chars, size=n, dtype=np.int64)
        if len(np.unique(values)) == n:
            break
    digits = values[:, None] // 36 ** np.arange(n_chars - 1, -1, -1, dtype=np.int64) % 36
    chars = np.ascontiguousarray(_ALPHABET[digits]).view(f"S{n_chars}")[:, 0].astype(str)
    return np.array([prefix + c for c in chars.tolist()], dtype=object)


def _pseudo_words(rng: np.random.Generator, n: int, exclude: set[str]) -> list[str]:
    """n distinct pronounceable made-up words of 2-3 syllables (the vocabulary of topics and brands)."""
    words: dict[str, None] = {}  # insertion-ordered, so the result depends only on the draws
    while len(words) < n:
        batch = 2 * n
        syllables = [
            (
                np.array(_ONSETS, dtype=object)[rng.integers(0, len(_ONSETS), batch)]
                + np.array(_VOWELS, dtype=object)[rng.integers(0, len(_VOWELS), batch)]
                + np.array(_CODAS, dtype=object)[rng.integers(0, len(_CODAS), batch)]
            ).tolist()
            for _ in range(3)
        ]
        three = (rng.random(batch) < 0.25).tolist()
        for first, second, third, long in zip(*syllables, three, strict=True):
            word = first + second + (third if long else "")
            if word not in exclude:
                words.setdefault(word)
    return list(words)[:n]


class _Vocabulary:
    """Background words shared by all items, plus each topic's own words and brands."""

    def __init__(self, n_topics: int, rng: np.random.Generator) -> None:
        n_topic_words = n_topics * _TOPIC_WORDS_PER_TOPIC
        made_up = _pseudo_words(rng, n_topic_words + n_topics * _BRANDS_PER_TOPIC, set(_BACKGROUND_WORDS))
        self.words = np.array(list(_BACKGROUND_WORDS) + made_up[:n_topic_words], dtype=object)
        self.topic_words = len(_BACKGROUND_WORDS) + np.arange(n_topic_words).reshape(n_topics, -1)
        self.brands = np.array([w.capitalize() for w in made_up[n_topic_words:]], dtype=object).reshape(n_topics, -1)
        self.labels = [  # e.g. "Vexor Headphones": the first word of the topic and a product noun
            f"{self.words[row[0]].capitalize()} {_PRODUCT_NOUNS[t % len(_PRODUCT_NOUNS)]}"
            for t, row in enumerate(self.topic_words)
        ]
        zipf = (np.arange(1, _TOPIC_WORDS_PER_TOPIC + 1) ** -_TOPIC_WORD_ZIPF).cumsum()
        self._topic_word_cdf = zipf / zipf[-1]

    def draw(self, topic: np.ndarray, rng: np.random.Generator) -> list[str]:
        """One word per entry of `topic`: a word of that topic (Zipf-weighted) or a background word."""
        rank = np.searchsorted(self._topic_word_cdf, rng.random(len(topic)), side="right")
        own = self.topic_words[topic, np.minimum(rank, _TOPIC_WORDS_PER_TOPIC - 1)]
        background = rng.integers(0, len(_BACKGROUND_WORDS), len(topic))
        return self.words[np.where(rng.random(len(topic)) < _TOPIC_WORD_SHARE, own, background)].tolist()


# --- metadata ------------------------------------------------------------------------------------
def meta_lines(
    world: SyntheticWorld, item_ids: np.ndarray, category: str, missing_share: float, rng: np.random.Generator
) -> list[str]:
    """One JSON line per catalogue item (19 keys) in asin order, except `missing_share` of the warm
    reviewed items, then a few duplicate rows (a later copy with the price blanked)."""
    cat = world.catalogue
    vocabulary = _Vocabulary(int(cat.topic.max()) + 1, rng)
    draws = _draw_meta(world, item_ids, vocabulary, rng)
    rows = [_meta_record(i, draws, vocabulary, category) for i in range(len(cat.topic))]
    return _meta_file_lines(world, rows, item_ids, missing_share, rng)


@dataclass(frozen=True)
class _MetaDraws:
    """Every random choice behind the metadata rows, drawn up front in one fixed order (per item)."""

    texts: list[list[str]]  # title, 2 description paragraphs, 5 feature bullets ("" = absent)
    html_paragraph: list[list[bool]]
    title_kind: list[float]  # < 0.01 junk, < 0.015 empty
    brand: list[str]
    has_brand: list[bool]
    sales_rank: list[int]
    rank_kind: list[int]  # string, list, empty list
    price: list[float]
    price_kind: list[int]  # price, "", range, junk
    images: list[list[str]]
    details_kind: list[float]
    drop_key: list[list[bool]]
    date_kind: list[float]  # < 0.4 a date, < 0.41 junk
    date_ts: list[int]
    also_buy: list[list[str]]
    also_buy_on: list[bool]
    also_view: list[list[str]]
    tech1_dict: list[bool]
    junk_main_cat: list[bool]
    similar_junk: list[bool]
    topics: list[int]
    ids: list[str]


def _draw_meta(
    world: SyntheticWorld, item_ids: np.ndarray, vocabulary: _Vocabulary, rng: np.random.Generator
) -> _MetaDraws:
    cat = world.catalogue
    n = len(cat.topic)
    texts = _item_texts(cat.topic, vocabulary, rng)
    html_paragraph = (rng.random((n, 2)) < 0.15).tolist()
    title_kind = rng.random(n).tolist()
    brand = vocabulary.brands[cat.topic, rng.integers(0, _BRANDS_PER_TOPIC, n)].tolist()
    has_brand = (rng.random(n) >= 0.1).tolist()

    popularity_rank = np.empty(n, dtype=np.int64)
    popularity_rank[np.argsort(-cat.popularity, kind="stable")] = np.arange(n)
    sales_rank = (1 + popularity_rank * (786_868 // n) + rng.integers(0, 786_868 // n + 1, n)).tolist()
    rank_kind = rng.choice(3, size=n, p=[0.45, 0.45, 0.10]).tolist()
    price = np.exp(rng.normal(3.2, 0.9, n)).tolist()
    price_kind = rng.choice(4, size=n, p=[0.61, 0.35, 0.03, 0.01]).tolist()
    n_images = np.where(rng.random(n) < 0.7, rng.integers(1, 5, n), 0)
    images = _split_ragged(random_ids(rng, int(n_images.sum()), "", 11).tolist(), n_images)
    details_kind = rng.random(n).tolist()
    drop_key = (rng.random((n, len(_OPTIONAL_META_KEYS))) < 0.02).tolist()
    date_kind = rng.random(n).tolist()
    date_ts = np.where(cat.cold, cat.release, rng.integers(1_072_915_200, cat.release.min() + 1, n)).tolist()  # 2004+
    also_buy = item_ids[cat.next_items].tolist()
    also_buy_on = (rng.random(n) < 0.4).tolist()
    also_view = _also_view(cat.topic, item_ids, rng)
    return _MetaDraws(
        texts, html_paragraph, title_kind, brand, has_brand, sales_rank, rank_kind, price, price_kind, images,
        details_kind, drop_key, date_kind, date_ts, also_buy, also_buy_on, also_view,
        tech1_dict=(rng.random(n) < 0.05).tolist(),
        junk_main_cat=(rng.random(n) < 0.01).tolist(),
        similar_junk=(rng.random(n) < 0.02).tolist(),
        topics=cat.topic.tolist(),
        ids=item_ids.tolist(),
    )


def _item_texts(topic: np.ndarray, vocabulary: _Vocabulary, rng: np.random.Generator) -> list[list[str]]:
    """Per item: title, 2 description paragraphs, 5 feature bullets, in words of the item's topic."""
    n = len(topic)
    # Word counts per text slot (0 = absent).
    n_paragraphs = rng.choice(3, size=n, p=[0.15, 0.6, 0.25])
    n_bullets = np.where(rng.random(n) < 0.3, 0, rng.integers(1, 6, n))
    slot_words = np.concatenate(
        [
            rng.integers(3, 8, (n, 1)),
            np.where(np.arange(2) < n_paragraphs[:, None], rng.integers(12, 36, (n, 2)), 0),
            np.where(np.arange(5) < n_bullets[:, None], rng.integers(3, 10, (n, 5)), 0),
        ],
        axis=1,
    )
    words = vocabulary.draw(np.repeat(topic, slot_words.sum(axis=1)), rng)
    word_bounds = np.concatenate([[0], np.cumsum(slot_words)]).tolist()
    return _split([" ".join(words[a:b]) for a, b in zip(word_bounds[:-1], word_bounds[1:])], slot_words.shape[1])


def _also_view(topic: np.ndarray, item_ids: np.ndarray, rng: np.random.Generator) -> list[list[str]]:
    """also_view: random other items of the same topic (also_buy is the item's 'next' items)."""
    n = len(topic)
    n_also_view = np.where(rng.random(n) < 0.5, rng.integers(2, 7, n), 0)
    by_topic = np.argsort(topic, kind="stable")
    topic_start = np.searchsorted(topic[by_topic], np.arange(int(topic.max()) + 2))
    viewer = np.repeat(np.arange(n), n_also_view)
    first, size = topic_start[topic[viewer]], np.diff(topic_start)[topic[viewer]]
    viewed = by_topic[first + (rng.random(len(viewer)) * size).astype(np.int64)]
    other = viewed != viewer
    return _split_ragged(item_ids[viewed[other]].tolist(), np.bincount(viewer[other], minlength=n))


def _meta_record(i: int, draws: _MetaDraws, vocabulary: _Vocabulary, category: str) -> dict[str, Any]:
    """Item i's metadata row, with the real files' quirks its draws select."""
    d = draws
    topic = d.topics[i]
    title_text, *paragraphs = d.texts[i][:3]
    title = (
        _JUNK_TITLES[i % len(_JUNK_TITLES)] if d.title_kind[i] < 0.01
        else "" if d.title_kind[i] < 0.015
        else f"{d.brand[i]} {title_text.title()}"
    )  # fmt: skip
    record: dict[str, Any] = {
        "category": [category, _SECTIONS[topic % len(_SECTIONS)], vocabulary.labels[topic]],
        "tech1": {"Brand Name": d.brand[i], "Item Weight": "4.8 ounces"} if d.tech1_dict[i] else "",
        "description": [
            f"<b>{text.capitalize()}.</b><br>" if html else f"{text.capitalize()}."
            for text, html in zip(paragraphs, d.html_paragraph[i], strict=True)
            if text
        ],
        "fit": "",
        "title": title,
        "also_buy": d.also_buy[i] if d.also_buy_on[i] else [],
        "tech2": "",
        "brand": d.brand[i] if d.has_brand[i] else "",
        "feature": [text.capitalize() for text in d.texts[i][3:] if text],
        "rank": _rank(d.sales_rank[i], d.rank_kind[i], category, vocabulary.labels[topic]),
        "also_view": d.also_view[i],
        "main_cat": _JUNK_MAIN_CAT if d.junk_main_cat[i] else _MAIN_CATS[topic % len(_MAIN_CATS)],
        "similar_item": _JUNK_SIMILAR if d.similar_junk[i] else "",
        "date": _meta_date(d.date_ts[i], d.date_kind[i]),
        "price": _price(d.price[i], d.price_kind[i]),
        "asin": d.ids[i],
        "imageURL": [f"{_IMAGE_HOST}{code}._SS40_.jpg" for code in d.images[i]],
        "imageURLHighRes": [f"{_IMAGE_HOST}{code}.jpg" for code in d.images[i]],
        "details": _details(d.ids[i], d.details_kind[i]),
    }
    for key, drop in zip(_OPTIONAL_META_KEYS, d.drop_key[i], strict=True):
        if drop:
            del record[key]
    return record


def _meta_file_lines(
    world: SyntheticWorld, rows: list[dict[str, Any]], item_ids: np.ndarray, missing_share: float,
    rng: np.random.Generator,
) -> list[str]:
    """The rows as JSON lines in asin order, without the missing warm items, plus price-blanked duplicates."""
    cat = world.catalogue
    warm_reviewed = np.flatnonzero(~cat.cold[: cat.n_reviewable])
    n_missing = round(len(warm_reviewed) * missing_share)
    missing = set(rng.choice(warm_reviewed, size=n_missing, replace=False).tolist())
    kept = [i for i in np.argsort(item_ids, kind="stable").tolist() if i not in missing]
    duplicated = rng.choice(kept, size=max(1, len(kept) // 300), replace=False)
    lines = [json.dumps(rows[i]) for i in kept]
    for i in duplicated.tolist():
        copy = dict(rows[i])
        copy["price"] = ""
        lines.append(json.dumps(copy))
    return lines


def _split(flat: list, width: int) -> list[list]:
    """Consecutive rows of `width` entries."""
    return [flat[start : start + width] for start in range(0, len(flat), width)]


def _split_ragged(flat: list, counts: np.ndarray) -> list[list]:
    """Consecutive rows of counts[i] entries."""
    bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _rank(rank: int, kind: int, category: str, label: str) -> str | list[str]:
    if kind == 0:
        return f"{rank:,} in {category} ("
    if kind == 1:
        return [
            f">#{rank:,} in {category} (See Top 100 in {category})",
            f">#{max(1, rank // 40):,} in {category} > {label}",
        ]
    return []


def _price(price: float, kind: int) -> str:
    if kind == 0:
        return f"${price:,.2f}"
    if kind == 1:
        return ""
    if kind == 2:
        return f"${price:,.2f} - ${price * 1.3:,.2f}"
    return _JUNK_PRICE


def _meta_date(ts: int, kind: float) -> str:
    if kind < 0.4:
        day = datetime.fromtimestamp(ts, UTC)
        return f"{day:%B} {day.day}, {day.year}"
    return _JUNK_DATE if kind < 0.41 else ""


def _details(asin: str, kind: float) -> dict[str, str]:
    if kind < 0.5:
        return {}
    details = {
        "\n    Product Dimensions: \n    ": "6.2 x 3.1 x 1.4 inches",
        "Shipping Weight:": "4.8 ounces (View shipping rates and policies)",
        "ASIN:": asin,
    }
    if kind > 0.8:
        details["Domestic Shipping: "] = "Item can be shipped within U.S."
        details["Item model number:"] = f"{asin[-4:]}-{len(asin)}"
    return details


# --- reviews -------------------------------------------------------------------------------------
def review_blocks(
    world: SyntheticWorld,
    ts: np.ndarray,
    line_order: np.ndarray,
    item_ids: np.ndarray,
    user_ids: np.ndarray,
    rng: np.random.Generator,
) -> Iterator[str]:
    """Review lines in `line_order`, in blocks; all randomness is drawn before the first block.

    Each field is a pool of rendered JSON fragments ("" where the field is absent) and one pool
    index per review, so a block is a gather per field and one string join. The fields are drawn
    in line order (the helpers below are called in that order, so the seeded draws never move).
    """
    n = len(ts)
    overall = (np.array([f'{{"overall": {r}.0, ' for r in range(6)], dtype=object), world.rating)
    vote, verified = _vote_fields(n, rng)
    reviewer = (np.array([f'"reviewerID": "{u}", ' for u in user_ids], dtype=object), world.user)
    asin = (np.array([f'"asin": "{a}", ' for a in item_ids], dtype=object), world.item)
    style = _style_field(world, n, rng)
    name, text, summary = _text_fields(world, len(user_ids), n, rng)
    image_and_close = _image_and_close(n, rng)
    before_time = (overall, vote, verified, _review_time(ts), reviewer, asin, style, name, text, summary)

    def blocks() -> Iterator[str]:
        for begin in range(0, n, LINES_PER_BLOCK):
            rows = line_order[begin : begin + LINES_PER_BLOCK]
            columns = [pool[index[rows]] for pool, index in before_time]
            columns.append([f'"unixReviewTime": {t}' for t in ts[rows].tolist()])
            columns.append(image_and_close[0][image_and_close[1][rows]])
            yield "".join(chain.from_iterable(zip(*columns, strict=True)))

    return blocks()


_Field = tuple[np.ndarray, np.ndarray]  # (pool of rendered fragments, pool index per review)


def _vote_fields(n: int, rng: np.random.Generator) -> tuple[_Field, _Field]:
    """`vote` (thousands separators, heavy tail, often absent) and `verified`."""
    has_vote = rng.random(n) < _VOTE_SHARE
    votes, vote_index = np.unique(np.floor(2 * (1 + rng.pareto(_VOTE_TAIL, n))).astype(np.int64), return_inverse=True)
    vote = (_pool([f'"vote": "{v:,}", ' for v in votes.tolist()]), np.where(has_vote, 1 + vote_index, 0))
    verified = (
        np.array(['"verified": false, ', '"verified": true, '], dtype=object),
        (rng.random(n) < _VERIFIED_SHARE).astype(np.int64),
    )
    return vote, verified


def _review_time(ts: np.ndarray) -> _Field:
    """`reviewTime` as the real files write it ("04 6, 2017"), one pool entry per day."""
    day = ts // SECONDS_PER_DAY
    first_day = int(day.min())
    dates = [datetime.fromtimestamp(SECONDS_PER_DAY * d, UTC) for d in range(first_day, int(day.max()) + 1)]
    return (
        np.array([f'"reviewTime": "{d:%m} {d.day}, {d.year}", ' for d in dates], dtype=object),
        day - first_day,
    )


def _style_field(world: SyntheticWorld, n: int, rng: np.random.Generator) -> _Field:
    """`style`: some items have style options, and most of their reviews name one."""
    style_pool, style_start, style_size = _style_pool()
    n_items = len(world.catalogue.topic)
    item_style = np.where(
        rng.random(n_items) < _STYLED_ITEM_SHARE, rng.integers(0, len(_STYLE_OPTIONS), n_items), -1
    )
    kind = item_style[world.item]
    styled = (kind >= 0) & (rng.random(n) < _STYLED_REVIEW_SHARE)
    style_index = style_start[kind] + (rng.random(n) * style_size[kind]).astype(np.int64)
    return _pool(style_pool), np.where(styled, 1 + style_index, 0)


def _text_fields(world: SyntheticWorld, n_users: int, n: int, rng: np.random.Generator) -> tuple[_Field, _Field, _Field]:
    """`reviewerName`, `reviewText` and `summary`, each sometimes absent."""
    name_pool, user_name = _reviewer_names(n_users, rng)
    name = (name_pool, np.where(rng.random(n) < _NAMED_REVIEW_SHARE, user_name[world.user], 0))
    text_pool, text_index = _review_texts(world.rating, rng)
    text = (text_pool, np.where(rng.random(n) < _TEXT_SHARE, text_index, 0))
    summary_pool, summary_start, summary_size = _summary_pool()
    summary_index = summary_start[world.rating] + (rng.random(n) * summary_size[world.rating]).astype(np.int64)
    summary = (_pool(summary_pool), np.where(rng.random(n) < _SUMMARY_SHARE, 1 + summary_index, 0))
    return name, text, summary


def _image_and_close(n: int, rng: np.random.Generator) -> _Field:
    """The optional `image` list and the closing brace of the line."""
    has_image = rng.random(n) < _IMAGE_SHARE
    codes = random_ids(rng, int(has_image.sum()), "", 11).tolist()
    return (
        np.array(["}\n"] + [f', "image": ["{_IMAGE_HOST}{code}._SY88.jpg"]}}\n' for code in codes], dtype=object),
        np.where(has_image, np.cumsum(has_image), 0),
    )


def _pool(fragments: Iterable[str]) -> np.ndarray:
    """Fragments as an object array with "" (field absent) at index 0."""
    return np.array(["", *fragments], dtype=object)


def _style_pool() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every style fragment of every style kind, with each kind's start and size in the pool."""
    fragments: list[str] = []
    start, size = [], []
    for options in _STYLE_OPTIONS:
        combos: list[dict[str, str]] = [{}]
        for key, values in options.items():
            combos = [combo | {key: value} for combo in combos for value in values]
        start.append(len(fragments))
        size.append(len(combos))
        fragments += [f'"style": {json.dumps(combo)}, ' for combo in combos]
    return np.array(fragments, dtype=object), np.array(start + [0]), np.array(size + [0])


def _reviewer_names(n_users: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`"reviewerName": ..., ` fragments, and each user's index into them (0: the user has no name)."""
    names = ["Amazon Customer", "Kindle Customer"]
    names += [f"{first} {last[0]}." for first in _FIRST_NAMES for last in _SURNAMES]
    names += [f"{first} {last}" for first in _FIRST_NAMES for last in _SURNAMES]
    pool = _pool(f'"reviewerName": {_json_text(name)}, ' for name in names)
    kind = rng.random(n_users)
    person = 3 + rng.integers(0, len(names) - 2, n_users)
    return pool, np.where(kind < 0.03, 0, np.where(kind < 0.18, 1, np.where(kind < 0.2, 2, person)))


def _review_texts(rating: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`"reviewText": ..., ` fragments of 1-3 sentences of the rating's sentiment, and one index per review.

    The pool holds every ordered combination, so a review's text is its index in mixed radix.
    """
    sentiment = np.array([0, 0, 0, 1, 2, 2])[rating]  # 1-2 stars negative, 3 neutral, 4-5 positive
    n_sentences = rng.integers(1, 4, len(rating))
    picks = rng.random((len(rating), 3))
    fragments: list[str] = []
    index = np.zeros(len(rating), dtype=np.int64)
    for code, name in enumerate(("negative", "neutral", "positive")):
        sentences = [_json_text(sentence)[1:-1] for sentence in _SENTENCES[name]]
        size = len(sentences)
        for length in (1, 2, 3):
            rows = (sentiment == code) & (n_sentences == length)
            digits = (picks[rows, :length] * size).astype(np.int64)
            index[rows] = 1 + len(fragments) + digits @ size ** np.arange(length - 1, -1, -1)
            fragments += [f'"reviewText": "{" ".join(combo)}", ' for combo in product(sentences, repeat=length)]
    return _pool(fragments), index


def _summary_pool() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`"summary": ..., ` fragments indexed by rating (1..5) through start and size."""
    fragments: list[str] = []
    start, size = [0], [0]
    for rating in range(1, 6):
        start.append(len(fragments))
        size.append(len(_SUMMARIES[rating]))
        fragments += [f'"summary": {_json_text(s)}, ' for s in _SUMMARIES[rating]]
    return np.array(fragments, dtype=object), np.array(start), np.array(size)


# --- ground truth --------------------------------------------------------------------------------
def ground_truth_blocks(
    world: SyntheticWorld,
    ts: np.ndarray,
    line_order: np.ndarray,
    item_ids: np.ndarray,
    user_ids: np.ndarray,
    mechanisms: tuple[str, ...],
) -> Iterator[str]:
    """CSV lines in the same order as the review lines, after a header."""
    yield GROUND_TRUTH_HEADER + "\n"
    users = np.array([f"{u}," for u in user_ids], dtype=object)
    items = np.array([f"{a}," for a in item_ids], dtype=object)
    labels = np.array([f",{m}\n" for m in mechanisms], dtype=object)
    for begin in range(0, len(ts), LINES_PER_BLOCK):
        rows = line_order[begin : begin + LINES_PER_BLOCK]
        columns = (
            users[world.user[rows]], items[world.item[rows]], map(str, ts[rows].tolist()), labels[world.mechanism[rows]]
        )
        yield "".join(chain.from_iterable(zip(*columns, strict=True)))


# --- writing -------------------------------------------------------------------------------------
def line_blocks(lines: list[str]) -> Iterator[str]:
    """Newline-terminated lines joined into blocks of LINES_PER_BLOCK."""
    for begin in range(0, len(lines), LINES_PER_BLOCK):
        yield "".join(f"{line}\n" for line in lines[begin : begin + LINES_PER_BLOCK])


def write_gzip_temp(final: Path, blocks: Iterable[str]) -> Path:
    """Write `blocks` gzip-compressed to a temp file next to `final`; the caller os.replace()s it.

    The gzip header carries no file name or mtime, so equal text gives equal bytes. A helper
    thread compresses one block while the next is built (zlib releases the GIL).
    """
    # 0644: mkstemp's 0600 would make the data files private to this user
    with (
        temp_file_beside(final, mode=0o644) as (raw, temp),
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0) as packed,
        ThreadPoolExecutor(max_workers=1) as compressor,
    ):
        pending: Future[int] | None = None
        for block in blocks:
            data = block.encode()
            if pending is not None:
                pending.result()
            pending = compressor.submit(packed.write, data)
        if pending is not None:
            pending.result()
    return temp
