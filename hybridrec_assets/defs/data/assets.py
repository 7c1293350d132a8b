"""Derived data tables, each one hybridrec_ml build call on the warehouse, with its data checks."""


from enum import Enum

from dagster import AssetCheckSpec, AssetExecutionContext, Config, MaterializeResult, asset
from pydantic import Field

from hybridrec_assets.defs.data.ingest import WRITER_POOL
from hybridrec_assets.defs.data.checks import check_result
from hybridrec_assets.metadata import rounded_metadata
from hybridrec_assets.resources import Warehouse
from hybridrec_ml.data.warehouse.checks import (
    check_context_not_constant,
    check_indices_consistent,
    check_k_core,
    check_no_time_leakage,
    check_sequences_causal,
)
from hybridrec_ml.data.transforms.context import build_context_features
from hybridrec_ml.data.transforms.interactions import build_interactions_5core
from hybridrec_ml.data.transforms.sequences import build_user_sequences
from hybridrec_ml.data.transforms.split import build_temporal_split

COMMON = {"group_name": "data", "pool": WRITER_POOL, "kinds": {"duckdb"}}


class CoreConfig(Config):
    k: int = Field(default=5, description="Minimum interactions per user and per item")


@asset(deps=["raw_reviews"], check_specs=[AssetCheckSpec("k_core_holds", asset="interactions_5core")], **COMMON)
def interactions_5core(config: CoreConfig, warehouse: Warehouse) -> MaterializeResult:
    """Iterative k-core over deduplicated reviews; stable integer ids for users and items."""
    with warehouse.writer() as con:
        report = build_interactions_5core(con, k=config.k)
        check = check_k_core(con, k=config.k)
    return MaterializeResult(metadata=rounded_metadata(report.metadata()), check_results=[check_result("k_core_holds", check)])


class SplitConfig(Config):
    train_fraction: float = 0.7
    val_fraction: float = 0.15
    test_fraction: float = 0.15


@asset(deps=[interactions_5core], check_specs=[AssetCheckSpec("no_time_leakage", asset="temporal_split")], **COMMON)
def temporal_split(config: SplitConfig, warehouse: Warehouse) -> MaterializeResult:
    """Global time boundaries (70/15/15 of interactions by default) in the tie-broken order."""
    fractions = (config.train_fraction, config.val_fraction, config.test_fraction)
    with warehouse.writer() as con:
        report = build_temporal_split(con, fractions)
        check = check_no_time_leakage(con)
    return MaterializeResult(metadata=rounded_metadata(report.metadata()), check_results=[check_result("no_time_leakage", check)])


class SequenceConfig(Config):
    max_len: int = Field(default=50, description="Previous items kept per interaction")


@asset(deps=[temporal_split], check_specs=[AssetCheckSpec("sequences_causal", asset="user_sequences")], **COMMON)
def user_sequences(config: SequenceConfig, warehouse: Warehouse) -> MaterializeResult:
    """For every interaction, the user's previous items (strictly earlier), oldest first."""
    with warehouse.writer() as con:
        report = build_user_sequences(con, max_len=config.max_len)
        check = check_sequences_causal(con)
    return MaterializeResult(metadata=rounded_metadata(report.metadata()), check_results=[check_result("sequences_causal", check)])


@asset(
    deps=[temporal_split],
    check_specs=[
        AssetCheckSpec(
            "context_not_constant",
            asset="context_features",
            description="WARN when a feature is constant (Amazon 2018's day-granular times make hour constant)",
        )
    ],
    **COMMON,
)
def context_features(warehouse: Warehouse) -> MaterializeResult:
    """hour/day-of-week sin-cos and weekend flag per interaction (UTC): the gate's input."""
    with warehouse.writer() as con:
        report = build_context_features(con)
        check = check_context_not_constant(con)
    return MaterializeResult(metadata=rounded_metadata(report.metadata()), check_results=[check_result("context_not_constant", check)])


class TfidfConfig(Config):
    max_features: int = Field(default=5000, description="Vocabulary size")


@asset(deps=["raw_items", interactions_5core], **COMMON)
def item_tfidf(config: TfidfConfig, warehouse: Warehouse) -> MaterializeResult:
    """Sparse TF-IDF of item text as (item, term, weight) triples plus the vocabulary."""
    from hybridrec_ml.data.transforms.tfidf import build_item_tfidf  # sklearn: loaded by this step, not the definitions

    with warehouse.writer() as con:
        report = build_item_tfidf(con, max_features=config.max_features)
    return MaterializeResult(metadata=rounded_metadata(report.metadata()))


class MaskKind(Enum):
    """What evaluation treats as already consumed (hybridrec_ml.evaluation.negatives.MASKS)."""

    history = "history"
    train_only = "train_only"


class NegativesConfig(Config):
    n_negatives: int = Field(default=99, description="Sampled-protocol negatives per val/test interaction")
    seed: int = 2024
    mask: MaskKind = Field(
        default=MaskKind.history,
        description="history: never an item the user had in any split; train_only: never a training item (the study's rule)",
    )


@asset(
    deps=[user_sequences, context_features, item_tfidf],
    check_specs=[AssetCheckSpec("indices_consistent", asset="eval_negatives")],
    **COMMON,
)
def eval_negatives(context: AssetExecutionContext, config: NegativesConfig, warehouse: Warehouse) -> MaterializeResult:
    """Negatives for the sampled protocol for every val/test row, drawn once and stored so every variant faces the same ones."""
    from hybridrec_ml.evaluation.negatives import draw_split_negatives, store_eval_negatives  # torch: in the step only
    from hybridrec_ml.tensors.bundle_loader import load_evaluation_rows

    with warehouse.reader() as con:
        evaluated = load_evaluation_rows(con)
    event_order, negatives = draw_split_negatives(evaluated, config.n_negatives, seed=config.seed, mask=config.mask.value)
    with warehouse.writer() as con:
        rows = store_eval_negatives(con, event_order, negatives)
        check = check_indices_consistent(con)
    context.log.info(f"stored {rows} rows of {config.n_negatives} negatives")
    return MaterializeResult(
        metadata={"rows": rows, "negatives_per_row": config.n_negatives, "seed": config.seed, "mask": config.mask.value},
        check_results=[check_result("indices_consistent", check)],
    )


DATA_ASSETS = [interactions_5core, temporal_split, user_sequences, context_features, item_tfidf, eval_negatives]
