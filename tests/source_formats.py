"""Lines in the true formats of the real sources, shared by the reader tests and the Dagster source tests.

Amazon 2023: one JSON object per line, reviews keyed by `parent_asin` (the review's `asin` is a
variant of it), timestamps in milliseconds. MovieLens ML-100K: `u.item` is `|`-separated with 19
genre flags. (Amazon 2018 files come from `hybridrec_ml.data.synthetic.generate_synthetic`, which
writes that exact format.)
"""

from __future__ import annotations

import json

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
