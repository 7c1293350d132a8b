"""Export the 5-core data and our temporal split as RecBole atomic files, for cross-checking.

RecBole run with `benchmark_filename: [train, valid, test]` then trains and evaluates on exactly
our split instead of re-splitting, so its baselines are comparable with ours. Its full-sort test
evaluates every user with a test row, all of them positive, train + valid masked, over every item
it has seen: with `users="all"` (and `.item` loaded, which lists the whole catalogue) that is the
population `evaluate_per_user` scores; `users="warm"` is the warm-user column's population.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from hybridrec_ml.data.warehouse import schema

_DATASET_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")

# Column aliases are RecBole's typed header, `name:type`; COPY writes them as the first line.
_INTER_SQL = f"""
SELECT u.user_id AS "user_id:token", it.item_id AS "item_id:token",
       i.rating AS "rating:float", i.ts AS "timestamp:float"
FROM {schema.INTERACTIONS_5CORE} AS i
JOIN {schema.USER_INDEX} AS u ON u.user_idx = i.user_idx
JOIN {schema.ITEM_INDEX} AS it ON it.item_idx = i.item_idx
ORDER BY i.event_order
"""
_SPLIT_SQL = f"""
SELECT u.user_id AS "user_id:token", it.item_id AS "item_id:token",
       i.rating AS "rating:float", s.ts AS "timestamp:float"
FROM {schema.TEMPORAL_SPLIT} AS s
JOIN {schema.INTERACTIONS_5CORE} AS i ON i.event_order = s.event_order
JOIN {schema.USER_INDEX} AS u ON u.user_idx = s.user_idx
JOIN {schema.ITEM_INDEX} AS it ON it.item_idx = s.item_idx
WHERE s.split = ? AND (s.split = 'train' OR s.user_in_train OR ?)
ORDER BY s.event_order
"""
# token_seq fields are split on spaces by RecBole: titles become word sequences, and each
# " | "-joined category becomes one token (inner whitespace -> "_").
_ITEM_SQL = rf"""
WITH first_metadata AS (
    SELECT item_id, title, categories
    FROM {schema.RAW_ITEMS}
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY source_file, line_no) = 1
)
SELECT
    it.item_id AS "item_id:token",
    coalesce(trim(regexp_replace(m.title, '\s+', ' ', 'g')), '') AS "title:token_seq",
    coalesce(array_to_string(list_filter(
        list_transform(string_split(m.categories, ' | '), lambda c: regexp_replace(trim(c), '\s+', '_', 'g')),
        lambda c: c <> ''), ' '), '') AS "categories:token_seq"
FROM {schema.ITEM_INDEX} AS it
LEFT JOIN first_metadata AS m ON m.item_id = it.item_id
ORDER BY it.item_idx
"""

# Our split name -> RecBole's benchmark file suffix.
_SPLIT_FILES = {"train": "train.inter", "val": "valid.inter", "test": "test.inter"}


@dataclass(frozen=True)
class RecBoleFile:
    path: Path
    rows: int  # data rows, without the header line


def export_recbole(
    con: duckdb.DuckDBPyConnection, out_dir: Path, dataset_name: str, users: Literal["all", "warm"] = "all"
) -> dict[str, RecBoleFile]:
    """Write `<name>.inter`, `<name>.item` and `<name>.{train,valid,test}.inter` into `out_dir`.

    Pass `out_dir = <RecBole data_path>/<name>`. Ids are the original strings (from the index
    tables); rows are in `event_order` (items in `item_idx`) order. With `users="all"` the split
    files hold every row of `temporal_split`, cold users' val/test rows included; `"warm"` drops
    the val/test rows of users without a training interaction (`.inter` and `.item` are the same
    either way, so the catalogue does not change). Each file is written to a temporary name and
    renamed, so readers never see half a file.
    Returns the files keyed by suffix: `inter`, `item`, `train.inter`, `valid.inter`, `test.inter`.
    """
    if users not in ("all", "warm"):
        raise ValueError(f"users must be 'all' or 'warm', got {users!r}")
    if not _DATASET_NAME.fullmatch(dataset_name):
        raise ValueError(f"dataset name {dataset_name!r} must match {_DATASET_NAME.pattern} (it names files)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {
        "inter": _copy(con, _INTER_SQL, [], out_dir / f"{dataset_name}.inter"),
        "item": _copy(con, _ITEM_SQL, [], out_dir / f"{dataset_name}.item"),
    }
    for split, suffix in _SPLIT_FILES.items():
        written[suffix] = _copy(con, _SPLIT_SQL, [split, users == "all"], out_dir / f"{dataset_name}.{suffix}")
    return written


def _copy(con: duckdb.DuckDBPyConnection, select_sql: str, params: list[object], path: Path) -> RecBoleFile:
    """COPY the rows as tab-separated text with a header line, then rename into place.

    QUOTE '' keeps RecBole's plain format: text fields contain no tabs or newlines by construction.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    literal = "'" + str(tmp).replace("'", "''") + "'"
    try:
        ((rows,),) = con.execute(
            f"COPY ({select_sql}) TO {literal} (FORMAT csv, DELIMITER '\t', HEADER true, QUOTE '')", params
        ).fetchall()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return RecBoleFile(path, int(rows))
