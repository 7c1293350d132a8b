"""The synthetic world's latent parameters, from the generator to DuckDB to the oracle.

`generate_synthetic` writes them as three CSV files next to the ground truth (`planted_blocks`);
the synthetic source swaps them into three tables together with the raw tables they describe
(`planted_builds`); `load_planted_truth` reads them back, with each user's true timeline from the
ground truth, into the arrays `models.oracle` computes true probabilities from. Only the synthetic
source has them: on any other source the loader raises `PlantedTruthMissing`.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import TableBuild, table_exists

if TYPE_CHECKING:
    from hybridrec_ml.data.synthetic.generator import SyntheticWorld

PLANTED_ROLES = ("planted_users", "planted_items", "planted_story")
_TABLES = {
    "planted_users": (schema.PLANTED_USERS, schema.PLANTED_USERS_COLUMNS),
    "planted_items": (schema.PLANTED_ITEMS, schema.PLANTED_ITEMS_COLUMNS),
    "planted_story": (schema.PLANTED_STORY, schema.PLANTED_STORY_COLUMNS),
}


class PlantedTruthMissing(ValueError):
    """The warehouse holds no planted truth: the data did not come from the synthetic source."""


@dataclass(frozen=True)
class PlantedTruth:
    """Latent parameters in the generator's index space (items = reviewable items, sorted by asin).

    `timeline_*` is each user's whole generated sequence in true time order (CSR over users, planted
    duplicates dropped): what the generator's redraw rule excluded at each position.
    """

    item_topic: np.ndarray  # int64 [I]
    item_community: np.ndarray  # int64 [I]
    item_popularity: np.ndarray  # float64 [I]
    item_release: np.ndarray  # int64 [I]: first second the item can be reviewed
    next_items: np.ndarray  # int64 [I, 3]
    user_topics: np.ndarray  # int64 [U, 2]: main, side
    user_communities: np.ndarray  # int64 [U, 2]: main, side
    story: dict[str, float]  # mixture_<bucket>_<mechanism>, main_taste, novelty_*, next_item_prob_k, attempts
    timeline_ptr: np.ndarray  # int64 [U + 1]
    timeline_item: np.ndarray  # int64 [N]: generator item index
    timeline_ts: np.ndarray  # int64 [N]: true unix seconds
    item_of_index: np.ndarray  # int64 [n_items]: bundle item_idx -> generator item index
    user_of_index: np.ndarray  # int64 [n_users]: bundle user_idx -> generator user index

    @property
    def n_items(self) -> int:
        return len(self.item_topic)


def planted_blocks(
    world: SyntheticWorld, item_ids: np.ndarray, user_ids: np.ndarray, story: dict[str, float]
) -> dict[str, Iterator[str]]:
    """Role -> CSV text (header first) of the users', the reviewable items' and the story's parameters."""
    cat = world.catalogue
    reviewable = range(cat.n_reviewable)

    def users() -> Iterator[str]:
        yield ",".join(schema.PLANTED_USERS_COLUMNS) + "\n"
        topics, communities = world.user_topics.tolist(), world.user_communities.tolist()
        yield "".join(
            f"{user_id},{t[0]},{t[1]},{c[0]},{c[1]}\n" for user_id, t, c in zip(user_ids, topics, communities, strict=True)
        )

    def items() -> Iterator[str]:
        yield ",".join(schema.PLANTED_ITEMS_COLUMNS) + "\n"
        yield "".join(
            f"{item_ids[i]},{cat.topic[i]},{cat.community[i]},{float(cat.popularity[i])!r},{cat.release[i]},"
            + ",".join(item_ids[n] for n in cat.next_items[i])
            + "\n"
            for i in reviewable
        )

    def story_lines() -> Iterator[str]:
        yield ",".join(schema.PLANTED_STORY_COLUMNS) + "\n"
        yield "".join(f"{name},{float(value)!r}\n" for name, value in story.items())

    return {"planted_users": users(), "planted_items": items(), "planted_story": story_lines()}


def planted_builds(paths: dict[str, Path]) -> list[TableBuild]:
    """How the planted tables are built from the files `planted_blocks` wrote (header checked)."""
    builds = []
    for role in PLANTED_ROLES:
        table, columns = _TABLES[role]
        path = paths[role]
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            header = handle.readline().rstrip("\n")
        if header != ",".join(columns):
            raise ValueError(f"{path}: header {header!r}, expected {','.join(columns)!r}")
        types = ", ".join(f"'{name}': '{declared.removesuffix(' NOT NULL')}'" for name, declared in columns.items())
        select = f"SELECT {schema.column_list(columns)} FROM read_csv(?, header = true, columns = {{{types}}})"
        builds.append(TableBuild(table, columns, select, [str(path)]))
    return builds


_TIMELINE_SQL = f"""
SELECT user_id, item_id, min(ts) AS ts  -- a planted duplicate is a later copy: readers keep the earliest
FROM {schema.GROUND_TRUTH}
GROUP BY user_id, item_id
ORDER BY user_id, ts
"""


def load_planted_truth(con: duckdb.DuckDBPyConnection) -> PlantedTruth:
    """The planted truth of the warehouse in `con`, mapped onto its user and item indices."""
    needed = [schema.GROUND_TRUTH, schema.PLANTED_USERS, schema.PLANTED_ITEMS, schema.PLANTED_STORY]
    missing = [table for table in needed if not table_exists(con, table)]
    if missing:
        raise PlantedTruthMissing(
            f"no planted truth in the warehouse (missing {', '.join(missing)}): the oracle is only available "
            "on data from the synthetic source"
        )
    items = con.execute(
        f"SELECT {schema.column_list(schema.PLANTED_ITEMS_COLUMNS)} FROM {schema.PLANTED_ITEMS} ORDER BY asin"
    ).fetchnumpy()
    asins = np.asarray(items["asin"], dtype=str)
    users = con.execute(
        f"SELECT {schema.column_list(schema.PLANTED_USERS_COLUMNS)} FROM {schema.PLANTED_USERS} ORDER BY reviewer_id"
    ).fetchnumpy()
    reviewers = np.asarray(users["reviewer_id"], dtype=str)
    story = dict(con.execute(f"SELECT name, value FROM {schema.PLANTED_STORY}").fetchall())
    timeline = con.execute(_TIMELINE_SQL).fetchnumpy()
    item_index = con.execute(f"SELECT item_idx, item_id FROM {schema.ITEM_INDEX} ORDER BY item_idx").fetchnumpy()
    user_index = con.execute(f"SELECT user_idx, user_id FROM {schema.USER_INDEX} ORDER BY user_idx").fetchnumpy()

    timeline_user = _lookup(reviewers, timeline["user_id"], "ground-truth reviewer")
    return PlantedTruth(
        item_topic=np.asarray(items["topic"], dtype=np.int64),
        item_community=np.asarray(items["community"], dtype=np.int64),
        item_popularity=np.asarray(items["popularity"], dtype=np.float64),
        item_release=np.asarray(items["release_ts"], dtype=np.int64),
        next_items=np.stack([_lookup(asins, items[f"next_{k}"], "next item") for k in (1, 2, 3)], axis=1),
        user_topics=np.stack([users["main_topic"], users["side_topic"]], axis=1).astype(np.int64),
        user_communities=np.stack([users["main_community"], users["side_community"]], axis=1).astype(np.int64),
        story={str(name): float(value) for name, value in story.items()},
        timeline_ptr=np.concatenate([[0], np.cumsum(np.bincount(timeline_user, minlength=len(reviewers)))]),
        timeline_item=_lookup(asins, timeline["item_id"], "ground-truth item"),
        timeline_ts=np.asarray(timeline["ts"], dtype=np.int64),
        item_of_index=_lookup(asins, item_index["item_id"], "item_index item"),
        user_of_index=_lookup(reviewers, user_index["user_id"], "user_index user"),
    )


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, what: str) -> np.ndarray:
    """Position of each value in sorted_keys; a value that is absent is an inconsistent warehouse."""
    values = np.asarray(values, dtype=str)
    position = np.searchsorted(sorted_keys, values)
    found = position < len(sorted_keys)
    found[found] = sorted_keys[position[found]] == values[found]
    if not found.all():
        raise ValueError(f"{what} {values[~found][0]!r} has no planted parameters: the planted tables are stale")
    return position.astype(np.int64)
