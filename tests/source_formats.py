"""Lines in the true formats of the real sources, shared by the reader tests and the Dagster source tests.

Amazon 2023: one JSON object per line, reviews keyed by `parent_asin` (the review's `asin` is a
variant of it), timestamps in milliseconds. MovieLens ML-100K: `u.item` is `|`-separated with 19
genre flags. (Amazon 2018 files come from `hybridrec_ml.data.synthetic.generate_synthetic`, which
writes that exact format.)
"""

from __future__ import annotations

import json
from pathlib import Path

from hybridrec_ml.data.sources.movielens import ML100K_GENRES


def amazon2023_review(
    user_id: str | None, parent_asin: str, timestamp: object, rating: object = 5.0, **extra: object
) -> str:
    """A 2023 review line; a `None` user_id is left out (and `asin` is the variant P -> V of parent_asin)."""
    record = {
        "rating": rating,
        "title": "Works",
        "text": "Does what it says.<br />Recommended",
        "images": [],
        "asin": parent_asin.replace("P", "V"),
        "parent_asin": parent_asin,
        "user_id": user_id,
        "timestamp": timestamp,
        "helpful_vote": 0,
        "verified_purchase": True,
    }
    record.update(extra)
    return json.dumps({key: value for key, value in record.items() if value is not None})


def amazon2023_item(parent_asin: str | None, **fields: object) -> str:
    """A 2023 metadata line; a `None` parent_asin is left out."""
    record = {
        "main_category": "All Electronics",
        "title": None,
        "average_rating": 4.2,
        "rating_number": 17,
        "features": [],
        "description": [],
        "price": None,
        "images": [{"thumb": "https://example.invalid/t.jpg"}],
        "videos": [],
        "store": None,
        "categories": [],
        "details": {"Brand": "x", "Date First Available": "May 5, 2020"},
        "parent_asin": parent_asin,
        "bought_together": None,
    }
    record.update(fields)
    return json.dumps({key: value for key, value in record.items() if key != "parent_asin" or value is not None})


def ml100k_item(movie_id: str, title: str, genres: set[str]) -> str:
    """An ML-100K `u.item` line: id|title|release date|video date|IMDb URL|19 genre flags."""
    flags = "|".join("1" if genre in genres else "0" for genre in ML100K_GENRES)
    return f"{movie_id}|{title}|01-Jan-1995||http://us.imdb.com/M/title-exact?x|{flags}"


# A circulant rating table: user u rates movies u + offset (mod n) for every offset, so every
# user and every movie has exactly len(offsets) ratings and the whole table is its own 5-core.
ML1M_OFFSETS = (0, 1, 3, 7, 12, 20, 30, 43, 57, 72, 90, 111)
ML1M_FIRST_TS = 1_000_000_000  # 2001-09-09 01:46:40 UTC
ML1M_STEP_S = 3_607  # an odd step: events at every time of day


def write_ml1m_folder(folder: Path, n: int = 150) -> int:
    """An extracted ML-1M folder (`ratings.dat`, `movies.dat`) of n users x n movies; returns the rating count.

    Ratings go round by round (each user's k-th rating in round k), so a global temporal split puts
    every user in train, val and test, and n > 99 + len(offsets) leaves room for 99 sampled negatives.
    """
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{user + 1}::{(user + offset) % n + 1}::{1 + (user * 7 + offset) % 5}::{ML1M_FIRST_TS + (k * n + user) * ML1M_STEP_S}\n"
        for k, offset in enumerate(ML1M_OFFSETS)
        for user in range(n)
    ]
    (folder / "ratings.dat").write_text("".join(lines), encoding="ascii")
    genres = ("Comedy", "Drama", "Thriller", "Sci-Fi", "Romance")
    movies = [f"{m + 1}::Movie {m} about topic {m % 7} ({1990 + m % 10})::{genres[m % 5]}|{genres[m % 3]}" for m in range(n)]
    (folder / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    return len(lines)
