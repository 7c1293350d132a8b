"""Data checks over the warehouse tables, returned as plain `CheckOutcome`s (Dagster wraps them).

Each check recomputes its property from the tables instead of trusting the step that wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import duckdb

from hybridrec_ml.data.transforms.context import constant_context_features
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.data.warehouse.tables import table_exists


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    severity: Literal["ERROR", "WARN"]
    description: str
    metadata: dict[str, int | float | str] = field(default_factory=dict)


_K_CORE_SQL = f"""
WITH users AS (SELECT count(*) AS n FROM {schema.INTERACTIONS_5CORE} GROUP BY user_idx),
     items AS (SELECT count(*) AS n FROM {schema.INTERACTIONS_5CORE} GROUP BY item_idx)
SELECT (SELECT count(*) FILTER (n < $1) FROM users), (SELECT coalesce(min(n), 0) FROM users),
       (SELECT count(*) FILTER (n < $1) FROM items), (SELECT coalesce(min(n), 0) FROM items)
"""


def check_k_core(con: duckdb.DuckDBPyConnection, k: int = 5) -> CheckOutcome:
    """Every user and item of `interactions_5core` has at least `k` interactions."""
    users_below, min_user, items_below, min_item = con.execute(_K_CORE_SQL, [k]).fetchall()[0]
    passed = users_below == 0 and items_below == 0
    return CheckOutcome(
        passed=passed,
        severity="ERROR",
        description=f"every user and item has >= {k} interactions"
        if passed
        else f"{users_below} users and {items_below} items have fewer than {k} interactions",
        metadata={
            "k": k,
            "users_below_k": users_below,
            "items_below_k": items_below,
            "min_user_interactions": min_user,
            "min_item_interactions": min_item,
        },
    )


# A row leaks when it is val/test but not after the whole of train (by ts and by event_order), or
# test but not after the whole of val. Ties in ts at a boundary are allowed: ts is day-granular.
_LEAKAGE_SQL = f"""
WITH ends AS (
    SELECT max(ts) FILTER (split = 'train') AS train_ts, max(event_order) FILTER (split = 'train') AS train_event,
           max(ts) FILTER (split = 'val') AS val_ts, max(event_order) FILTER (split = 'val') AS val_event
    FROM {schema.TEMPORAL_SPLIT}
)
SELECT count(*) FILTER (split <> 'train' AND (ts < train_ts OR event_order < train_event)),
       count(*) FILTER (split = 'test' AND (ts < val_ts OR event_order < val_event)),
       any_value(train_ts), any_value(val_ts)
FROM {schema.TEMPORAL_SPLIT}, ends
"""
# split_boundaries must name, for val and test, the first event of that split and its timestamp.
_BOUNDARY_MISMATCH_SQL = f"""
WITH firsts AS (
    SELECT split, arg_min(event_order, event_order) AS event_order, arg_min(ts, event_order) AS ts
    FROM {schema.TEMPORAL_SPLIT} WHERE split IN ('val', 'test') GROUP BY split
)
SELECT count(*) FILTER (f.event_order IS DISTINCT FROM b.first_event_order OR f.ts IS DISTINCT FROM b.first_ts)
FROM firsts AS f FULL OUTER JOIN {schema.SPLIT_BOUNDARIES} AS b ON b.split = f.split
"""


def check_no_time_leakage(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """No val/test interaction precedes the end of train, no test one the end of val, and the boundaries agree."""
    after_train, after_val, train_last_ts, val_last_ts = con.execute(_LEAKAGE_SQL).fetchall()[0]
    boundary_mismatches = con.execute(_BOUNDARY_MISMATCH_SQL).fetchall()[0][0]
    passed = after_train == 0 and after_val == 0 and boundary_mismatches == 0
    return CheckOutcome(
        passed=passed,
        severity="ERROR",
        description="val and test come strictly after train, test after val"
        if passed
        else f"{after_train} val/test rows precede the end of train, {after_val} test rows precede the end of val, "
        f"{boundary_mismatches} split_boundaries rows disagree with temporal_split",
        metadata={
            "rows_before_train_end": after_train,
            "test_rows_before_val_end": after_val,
            "boundary_mismatches": boundary_mismatches,
            "train_last_ts": train_last_ts if train_last_ts is not None else -1,
            "val_last_ts": val_last_ts if val_last_ts is not None else -1,
        },
    )


def _dense_index_sql(table: str, idx: str, key: str) -> str:
    """Offending rows of an index table: idx not equal to its position in 0..n-1, or a repeated id."""
    return f"""
    SELECT (SELECT count(*) FROM (SELECT {idx} - (row_number() OVER (ORDER BY {idx}) - 1) AS gap FROM {table})
            WHERE gap <> 0)
         + (SELECT count(*) - count(DISTINCT {key}) FROM {table})"""


def _out_of_range_sql(table: str, column: str, index: str) -> str:
    return f"SELECT count(*) FROM {table} WHERE {column} < 0 OR {column} >= (SELECT count(*) FROM {index})"


def _event_coverage_sql(table: str) -> str:
    """Offending rows: event_order missing from `table`, unknown to interactions, or repeated."""
    return f"""
    SELECT (SELECT count(*) FROM {schema.INTERACTIONS_5CORE} ANTI JOIN {table} USING (event_order))
         + (SELECT count(*) FROM {table} ANTI JOIN {schema.INTERACTIONS_5CORE} USING (event_order))
         + (SELECT count(*) - count(DISTINCT event_order) FROM {table})"""


# (what is checked, tables it needs, SQL counting offending rows). Index tables are checked to be
# dense first, which turns "idx exists in the index" into a range test that needs no join.
_CONSISTENCY_PROBES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("user_index_not_dense", (schema.USER_INDEX,), _dense_index_sql(schema.USER_INDEX, "user_idx", "user_id")),
    ("item_index_not_dense", (schema.ITEM_INDEX,), _dense_index_sql(schema.ITEM_INDEX, "item_idx", "item_id")),
    (
        "vocabulary_not_dense",
        (schema.TFIDF_VOCABULARY,),
        _dense_index_sql(schema.TFIDF_VOCABULARY, "term_idx", "term"),
    ),
    *(
        (f"{table}_unknown_{column}", (table, index), _out_of_range_sql(table, column, index))
        for table in (schema.INTERACTIONS_5CORE, schema.TEMPORAL_SPLIT)
        for column, index in (("user_idx", schema.USER_INDEX), ("item_idx", schema.ITEM_INDEX))
    ),
    (
        "user_sequences_unknown_item_idx",
        (schema.USER_SEQUENCES, schema.ITEM_INDEX),
        f"""SELECT count(*) FROM {schema.USER_SEQUENCES}
            WHERE list_min(prev_items) < 0 OR list_max(prev_items) >= (SELECT count(*) FROM {schema.ITEM_INDEX})""",
    ),
    ("item_tfidf_unknown_item_idx", (schema.ITEM_TFIDF, schema.ITEM_INDEX), _out_of_range_sql(
        schema.ITEM_TFIDF, "item_idx", schema.ITEM_INDEX)),
    ("item_tfidf_unknown_term_idx", (schema.ITEM_TFIDF, schema.TFIDF_VOCABULARY), _out_of_range_sql(
        schema.ITEM_TFIDF, "term_idx", schema.TFIDF_VOCABULARY)),
    *(
        (f"{table}_event_order_mismatch", (table, schema.INTERACTIONS_5CORE), _event_coverage_sql(table))
        for table in (schema.TEMPORAL_SPLIT, schema.USER_SEQUENCES, schema.CONTEXT_FEATURES)
    ),
    (
        "temporal_split_disagrees_with_interactions",
        (schema.TEMPORAL_SPLIT, schema.INTERACTIONS_5CORE),
        f"""SELECT count(*) FROM {schema.TEMPORAL_SPLIT} AS s JOIN {schema.INTERACTIONS_5CORE} AS i USING (event_order)
            WHERE s.user_idx <> i.user_idx OR s.item_idx <> i.item_idx OR s.ts <> i.ts""",
    ),
)


def check_indices_consistent(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """Index tables are dense and every idx / event_order referenced elsewhere exists (tables present only)."""
    offending = {
        name: con.execute(sql).fetchall()[0][0]
        for name, tables, sql in _CONSISTENCY_PROBES
        if all(table_exists(con, table) for table in tables)
    }
    failed = [f"{name}: {n}" for name, n in offending.items() if n]
    return CheckOutcome(
        passed=not failed,
        severity="ERROR",
        description=f"{len(offending)} cross-table id probes found nothing wrong" if not failed else "; ".join(failed),
        metadata={"probes": len(offending), **offending},
    )


# Recompute every history from positions: the row at 0-based position p of its user must hold
# exactly the items at positions p-len .. p-1 of that user's event_order-sorted interactions.
_CAUSAL_SQL = f"""
WITH positioned AS (
    SELECT event_order, user_idx, row_number() OVER (PARTITION BY user_idx ORDER BY event_order) - 1 AS position
    FROM {schema.INTERACTIONS_5CORE}
), timelines AS (
    SELECT user_idx, list(item_idx ORDER BY event_order) AS items FROM {schema.INTERACTIONS_5CORE} GROUP BY user_idx
), compared AS (
    SELECT p.event_order, q.prev_items IS NULL AS missing,
           len(q.prev_items) > p.position
           OR q.prev_items <> list_slice(t.items, p.position - len(q.prev_items) + 1, p.position) AS wrong,
           len(q.prev_items) AS length
    FROM positioned AS p
    JOIN timelines AS t ON t.user_idx = p.user_idx
    LEFT JOIN {schema.USER_SEQUENCES} AS q ON q.event_order = p.event_order
)
SELECT count(*), count(*) FILTER (missing), count(*) FILTER (wrong), coalesce(min(event_order) FILTER (wrong), -1),
       coalesce(max(length), 0)
FROM compared
"""


def check_sequences_causal(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """Every history holds only items strictly earlier than its target, the most recent ones, oldest first."""
    rows, missing, wrong, first_wrong, longest = con.execute(_CAUSAL_SQL).fetchall()[0]
    passed = missing == 0 and wrong == 0
    return CheckOutcome(
        passed=passed,
        severity="ERROR",
        description=f"all {rows} histories are the user's preceding items in order"
        if passed
        else f"{wrong} histories differ from the user's preceding items (first at event_order {first_wrong}); "
        f"{missing} interactions have no history row",
        metadata={
            "rows": rows,
            "rows_without_history": missing,
            "wrong_histories": wrong,
            "first_wrong_event_order": first_wrong,
            "longest_history": longest,
        },
    )


def check_context_not_constant(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """WARN when a context feature is constant: it carries no signal (hour_* on day-granular Amazon 2018)."""
    constant = constant_context_features(con)
    return CheckOutcome(
        passed=not constant,
        severity="WARN",
        description="every context feature varies"
        if not constant
        else f"constant context features (no signal for the gate): {', '.join(constant)}",
        metadata={"constant_features": ", ".join(constant) or "none", "n_constant_features": len(constant)},
    )
