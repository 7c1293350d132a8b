"""recommendations[variant, seed]: every user's top-K at one moment, in the DuckDB table `recommendations`."""

from pathlib import Path

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from hybridrec_assets.artifacts import model_path
from hybridrec_assets.automation import FOLLOW_UPSTREAM
from hybridrec_assets.defs.data.checks import check_result
from hybridrec_assets.defs.data.ingest import WRITER_POOL
from hybridrec_assets.defs.model.assets import trained_model
from hybridrec_assets.defs.model.checks import run_partitioned_spec
from hybridrec_assets.metadata import rounded_metadata
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_assets.resources import ArtifactStore, Warehouse
from hybridrec_assets.torch_threads import default_torch_threads
from hybridrec_ml.config import VARIANTS
from hybridrec_ml.data.warehouse.checks import CheckOutcome

CHECK = "recommendations_valid"


class RecommendationsConfig(Config):
    k: int = Field(default=20, description="Items per user")
    at: str | None = Field(
        default=None, description="ISO 8601 moment (UTC without an offset) for history and context; default: the last interaction"
    )
    users: list[str] | None = Field(default=None, description="user_id subset (default: every user)")
    device: str = Field(default="cpu", description="auto | cpu | cuda")
    torch_threads: int | None = Field(default=None, description="None: the cores divided among the instance's concurrent runs")


@asset(
    partitions_def=RUN_PARTITIONS,
    deps=[trained_model],
    pool=WRITER_POOL,
    automation_condition=FOLLOW_UPSTREAM,
    check_specs=[run_partitioned_spec(
        "recommendations", CHECK, "No recommended item was already consumed; every user got k items (or all that remain)"
    )],
    group_name="serving",
    kinds={"pytorch", "duckdb"},
)
def recommendations(
    context: AssetExecutionContext, config: RecommendationsConfig, warehouse: Warehouse, store: ArtifactStore
) -> MaterializeResult:
    """Top-K unconsumed items per user with scores and α, scored in user x item blocks; this partition's rows replaced."""
    import torch  # torch and the scoring code load in this step, not with the definitions

    from hybridrec_ml.data.transforms.context import context_tables
    from hybridrec_ml.evaluation.protocols import default_chunk
    from hybridrec_ml.serving.consumption import load_consumption_log, load_ids, parse_time, user_indices
    from hybridrec_ml.serving.recommendations import (
        RECOMMENDATIONS,
        check_recommendations,
        recommend_users,
        write_recommendations,
    )
    from hybridrec_ml.tensors.bundle_loader import load_training_bundle
    from hybridrec_ml.training.run_record import load_trained_model
    from hybridrec_ml.training.trainer import resolve_device

    name, seed = variant_and_seed(context.partition_key)
    variant = VARIANTS[name]
    if variant.model == "oracle":  # it ranks only the evaluated rows it was built for: nothing to recommend
        reason = "not applicable: the oracle scores only the evaluated rows of the planted world"
        outcome = CheckOutcome(passed=True, severity="ERROR", description=reason, metadata={"applicable": False})
        return MaterializeResult(metadata={"applicable": False, "rows": 0}, check_results=[check_result(CHECK, outcome)])
    torch.set_num_threads(config.torch_threads or default_torch_threads(context.instance))
    with warehouse.reader() as con:
        bundle = load_training_bundle(con, max_history=variant.dims.max_history)
        log = load_consumption_log(con, bundle.n_users, bundle.n_items)
        user_ids, _ = load_ids(con)
        tables = context_tables(con)
    users = user_indices(user_ids, config.users)
    device = resolve_device(config.device)
    model = load_trained_model(variant, bundle, store.path(*model_path(name, seed))).to(device)
    at = parse_time(config.at) if config.at is not None else log.end_ts
    recs = recommend_users(
        model, log, tables, users, k=config.k, at=at, max_history=variant.dims.max_history,
        user_chunk=default_chunk("row_chunk", None, device), item_chunk=default_chunk("item_chunk", None, device),
    )
    with warehouse.writer() as con:
        write_recommendations(con, name, seed, recs)
        outcome = check_recommendations(con, name, seed, users, config.k, bundle.n_items, at)
    database = Path(warehouse.database).resolve()
    return MaterializeResult(
        metadata=rounded_metadata(recs.metadata() | {
            "k": config.k,
            "table": MetadataValue.text(f"{RECOMMENDATIONS} in {database}"),
            "query": MetadataValue.text(f"SELECT * FROM {RECOMMENDATIONS} WHERE variant = '{name}' AND seed = {seed} ORDER BY user_idx, rank"),
        }),
        check_results=[check_result(CHECK, outcome)],
    )
