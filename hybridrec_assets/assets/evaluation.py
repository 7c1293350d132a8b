"""evaluation[variant, seed] (both protocols on test) and segment_report[variant, seed]."""

import torch
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from hybridrec_assets.assets.training import (
    GATE_CHECK,
    TrainingConfig,
    default_torch_threads,
    model_path,
    summary_path,
    trained_model,
)
from hybridrec_assets.checks import DEFAULT_COLLAPSE_THRESHOLD, collapse_result, collapse_spec
from hybridrec_assets.executors import GPU_STEP_TAGS
from hybridrec_assets.automation import FOLLOW_UPSTREAM
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_assets.resources import ArtifactStore, Tracker, Warehouse
from hybridrec_ml.config import VARIANTS
from hybridrec_ml.data.bundle_loader import load_training_bundle
from hybridrec_ml.evaluation.negatives import load_eval_negatives
from hybridrec_ml.evaluation.variant_evaluation import evaluate_variant, load_evaluation, save_evaluation
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.reporting.tables import segment_table
from hybridrec_ml.training.checkpoint import load_checkpoint
from hybridrec_ml.training.trainer import resolve_device


def evaluation_path(variant: str, seed: int) -> tuple[str, ...]:
    return ("evaluation", variant, f"seed-{seed}", "evaluation.npz")


class SegmentConfig(Config):
    bounds: list[int] = Field(default=[3, 10, 30], description="Upper bounds of the history-length segments")
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD


class EvaluationConfig(SegmentConfig):
    """Scoring block sizes (None: per-device defaults); they bound memory and never change a rank."""

    batch_size: int | None = Field(default=None, description="Rows per sampled-protocol scoring call")
    row_chunk: int | None = Field(default=None, description="Rows per full-ranking block")
    item_chunk: int | None = Field(default=None, description="Catalogue items per full-ranking block")


@asset(
    partitions_def=RUN_PARTITIONS,
    deps=[trained_model],
    group_name="evaluation",
    kinds={"pytorch"},
    op_tags=GPU_STEP_TAGS,
    automation_condition=FOLLOW_UPSTREAM,
)
def evaluation(
    context: AssetExecutionContext, config: EvaluationConfig, warehouse: Warehouse, store: ArtifactStore, tracker: Tracker
) -> MaterializeResult:
    """Sampled (stored 99 negatives) and full-catalogue ranking of the test interactions."""
    name, seed = variant_and_seed(context.partition_key)
    variant = TrainingConfig().variant(name, seed)
    torch.set_num_threads(default_torch_threads(context.instance))
    with warehouse.reader() as con:
        bundle = load_training_bundle(con, max_history=variant.dims.max_history)
        test_negatives = load_eval_negatives(con, bundle.test.event_order)
    model = build_model(variant, bundle).to(resolve_device(variant.train.device))  # full ranking on a GPU when present
    model.load_state_dict(load_checkpoint(store.path(*model_path(name, seed)))["model"])
    summary = store.read_json(*summary_path(name, seed))
    result = evaluate_variant(
        model, bundle, test_negatives, variant=name, seed=seed, alpha_per_epoch=summary["alpha_per_epoch"],
        segment_bounds=tuple(config.bounds), collapse_threshold=config.collapse_threshold,
        batch_size=config.batch_size, row_chunk=config.row_chunk, item_chunk=config.item_chunk,
    )
    path = save_evaluation(result, store.path(*evaluation_path(name, seed)))
    metrics = result.metadata()
    run = tracker.existing(summary["mlflow_run_id"])  # same run as the training: one place to look
    run.log_metrics(metrics)
    run.log_artifact(path, "evaluation")  # the durable copy: object storage when the tracker's artifacts are there
    return MaterializeResult(
        metadata=metrics | {"test_rows": len(bundle.test), "evaluation_file": MetadataValue.path(str(path))}
    )


@asset(
    partitions_def=RUN_PARTITIONS,
    deps=[evaluation],
    automation_condition=FOLLOW_UPSTREAM,
    check_specs=[collapse_spec("segment_report", f"{GATE_CHECK}_by_segment", "The collapse check in every user segment")],
    group_name="evaluation",
)
def segment_report(context: AssetExecutionContext, config: SegmentConfig, store: ArtifactStore) -> MaterializeResult:
    """Test users bucketed by training-history length: NDCG@10, Recall@10 and mean α per bucket."""
    name, seed = variant_and_seed(context.partition_key)
    result = load_evaluation(store.path(*evaluation_path(name, seed)))
    segments = result.segments
    alpha_columns = ["alpha_static", "alpha_dynamic", "alpha_content"]
    has_gate = VARIANTS[name].has_learned_gate
    populated = segments[segments["n_rows"] > 0]
    worst = populated.loc[populated[alpha_columns].max(axis=1).idxmax()] if has_gate and len(populated) else None
    check = collapse_result(
        f"{GATE_CHECK}_by_segment",
        tuple(float(worst[c]) for c in alpha_columns) if worst is not None else None,
        config.collapse_threshold,
        "WARN",
        f"most concentrated segment: {worst['segment']}" if worst is not None else "all segments",
    )
    metadata = {"segments": MetadataValue.md(segment_table(segments.assign(variant=name, seed=seed), config.collapse_threshold))}
    for _, row in populated.iterrows():
        key = row["segment"].split(" ")[0].replace("-", "_")
        metadata |= {f"{key}_ndcg_at_10": float(row["ndcg@10"]), f"{key}_rows": int(row["n_rows"])}
    return MaterializeResult(metadata=metadata, check_results=[check])
