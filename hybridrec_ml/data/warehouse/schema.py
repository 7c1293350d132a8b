"""The DuckDB tables every source writes and every consumer reads: one place for names and columns.

Sources (amazon2018, amazon2023, movielens, synthetic via amazon2018) all produce the same raw
tables, so everything downstream of ingest is source-agnostic.
"""

RAW_REVIEWS = "raw_reviews"
RAW_ITEMS = "raw_items"
QUARANTINE = "quarantine"
GROUND_TRUTH = "synthetic_ground_truth"
USER_INDEX = "user_index"
ITEM_INDEX = "item_index"
INTERACTIONS_5CORE = "interactions_5core"
TEMPORAL_SPLIT = "temporal_split"
SPLITS = ("train", "val", "test")  # values of temporal_split.split, in time order
SPLIT_BOUNDARIES = "split_boundaries"
USER_SEQUENCES = "user_sequences"
CONTEXT_FEATURES = "context_features"
ITEM_TFIDF = "item_tfidf"
TFIDF_VOCABULARY = "tfidf_vocabulary"
EVAL_NEGATIVES = "eval_negatives"

# Column lists, in order. Types are DuckDB types.
RAW_REVIEWS_COLUMNS = {
    "user_id": "VARCHAR NOT NULL",
    "item_id": "VARCHAR NOT NULL",
    "rating": "DOUBLE",
    "ts": "BIGINT NOT NULL",  # unix seconds, UTC
    "verified": "BOOLEAN",
    "vote": "INTEGER",
    "source_file": "VARCHAR NOT NULL",
    "line_no": "BIGINT NOT NULL",  # 1-based line in source_file
}
RAW_ITEMS_COLUMNS = {
    "item_id": "VARCHAR NOT NULL",
    "title": "VARCHAR",
    "description": "VARCHAR",  # list-valued fields joined with "\n"
    "features": "VARCHAR",
    "categories": "VARCHAR",  # joined with " | "
    "brand": "VARCHAR",
    "price": "DOUBLE",
    "source_file": "VARCHAR NOT NULL",
    "line_no": "BIGINT NOT NULL",
}
QUARANTINE_COLUMNS = {
    "table_name": "VARCHAR NOT NULL",  # the raw table the line was meant for
    "source_file": "VARCHAR NOT NULL",
    "line_no": "BIGINT",
    "reason": "VARCHAR NOT NULL",
    "raw_line": "VARCHAR",  # truncated to 2000 chars
}
GROUND_TRUTH_COLUMNS = {
    "user_id": "VARCHAR NOT NULL",
    "item_id": "VARCHAR NOT NULL",
    "ts": "BIGINT NOT NULL",
    "mechanism": "VARCHAR NOT NULL",  # static | dynamic | content
}
INTERACTIONS_5CORE_COLUMNS = {
    "event_order": "BIGINT NOT NULL",  # 0..N-1, global order by (ts, user_id, item_id): the tie-break
    "user_idx": "INTEGER NOT NULL",
    "item_idx": "INTEGER NOT NULL",
    "rating": "DOUBLE",
    "ts": "BIGINT NOT NULL",
}
TEMPORAL_SPLIT_COLUMNS = {
    "event_order": "BIGINT NOT NULL",
    "user_idx": "INTEGER NOT NULL",
    "item_idx": "INTEGER NOT NULL",
    "ts": "BIGINT NOT NULL",
    "split": "VARCHAR NOT NULL",  # train | val | test
    "user_in_train": "BOOLEAN NOT NULL",
    "item_in_train": "BOOLEAN NOT NULL",
}
SPLIT_BOUNDARIES_COLUMNS = {
    "split": "VARCHAR NOT NULL",  # val | test: first event of that split
    "first_event_order": "BIGINT NOT NULL",
    "first_ts": "BIGINT NOT NULL",
}
USER_SEQUENCES_COLUMNS = {
    "event_order": "BIGINT NOT NULL",
    "prev_items": "INTEGER[] NOT NULL",  # <= max_len previous item_idx of the user, oldest first
}
CONTEXT_FEATURES_COLUMNS = {
    "event_order": "BIGINT NOT NULL",
    "hour_sin": "FLOAT NOT NULL",
    "hour_cos": "FLOAT NOT NULL",
    "dow_sin": "FLOAT NOT NULL",
    "dow_cos": "FLOAT NOT NULL",
    "is_weekend": "FLOAT NOT NULL",
}
CONTEXT_FEATURE_NAMES = tuple(CONTEXT_FEATURES_COLUMNS)[1:]
ITEM_TFIDF_COLUMNS = {"item_idx": "INTEGER NOT NULL", "term_idx": "INTEGER NOT NULL", "weight": "FLOAT NOT NULL"}
TFIDF_VOCABULARY_COLUMNS = {"term_idx": "INTEGER NOT NULL", "term": "VARCHAR NOT NULL", "idf": "DOUBLE NOT NULL"}
USER_INDEX_COLUMNS = {"user_idx": "INTEGER NOT NULL", "user_id": "VARCHAR NOT NULL"}
ITEM_INDEX_COLUMNS = {"item_idx": "INTEGER NOT NULL", "item_id": "VARCHAR NOT NULL"}
EVAL_NEGATIVES_COLUMNS = {
    "event_order": "BIGINT NOT NULL",  # a val/test interaction
    "negatives": "INTEGER[] NOT NULL",  # item_idx never interacted with by the user in train
}


def column_list(columns: dict[str, str]) -> str:
    """`a, b, c` for a SELECT or INSERT: column names are constants from this module, never input."""
    return ", ".join(columns)


def ddl(columns: dict[str, str]) -> str:
    """`(a TYPE, b TYPE)` for CREATE TABLE."""
    return "(" + ", ".join(f"{name} {typ}" for name, typ in columns.items()) + ")"
