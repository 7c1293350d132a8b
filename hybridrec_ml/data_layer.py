"""The data asset group as one library call, for benches and tests that need a warehouse without Dagster.

The steps and defaults are the assets' (`hybridrec_assets/defs/data`): ingest, 5-core, temporal
split, histories, context, TF-IDF, and the sampled protocol's stored negatives. It sits above
`evaluation` because the negatives are drawn there.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from hybridrec_ml.data.sources.registry import SyntheticOptions, ingest_source, resolve_source_files
from hybridrec_ml.data.transforms.context import build_context_features
from hybridrec_ml.data.transforms.interactions import build_interactions_5core
from hybridrec_ml.data.transforms.sequences import build_user_sequences
from hybridrec_ml.data.transforms.split import build_temporal_split
from hybridrec_ml.data.transforms.tfidf import build_item_tfidf
from hybridrec_ml.evaluation.negatives import draw_split_negatives, store_eval_negatives
from hybridrec_ml.tensors.bundle_loader import load_evaluation_rows


def build_data_layer(
    con: duckdb.DuckDBPyConnection, *, max_history: int = 50, n_negatives: int = 99, negatives_seed: int = 2024
) -> None:
    """Every table training and evaluation read, from the ingested `reviews` (and `items`) tables."""
    build_interactions_5core(con)
    build_temporal_split(con)
    build_user_sequences(con, max_len=max_history)
    build_context_features(con)
    build_item_tfidf(con)
    event_order, negatives = draw_split_negatives(load_evaluation_rows(con), n_negatives, seed=negatives_seed)
    store_eval_negatives(con, event_order, negatives)


def synthetic_warehouse(folder: Path, options: SyntheticOptions, *, max_history: int = 50) -> Path:
    """`folder`/warehouse.duckdb holding the synthetic world of `options`, built once (a finished file is reused).

    The database is built under another name and renamed when complete, so an interrupted build is
    never mistaken for a finished one.
    """
    database = folder / "warehouse.duckdb"
    if database.exists():
        return database
    folder.mkdir(parents=True, exist_ok=True)
    files = resolve_source_files("synthetic", folder, synthetic=options)
    partial = folder / "warehouse.partial.duckdb"
    partial.unlink(missing_ok=True)
    with duckdb.connect(str(partial)) as con:
        ingest_source(con, "synthetic", files)
        build_data_layer(con, max_history=max_history)
    partial.rename(database)
    return database
