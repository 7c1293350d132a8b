"""evaluation[variant, seed] (both protocols on test) and segment_report[variant, seed]."""

import torch
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from hybridrec_assets.artifacts import evaluation_path, model_path, summary_path
from hybridrec_assets.automation import FOLLOW_UPSTREAM
from hybridrec_assets.defs.model.assets import trained_model
from hybridrec_assets.defs.model.checks import GATE_CHECK, collapse_result, collapse_spec
from hybridrec_assets.executors import GPU_STEP_TAGS
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_assets.resources import ArtifactStore, Tracker, Warehouse
from hybridrec_assets.torch_threads import default_torch_threads
from hybridrec_ml.config import DEFAULT_COLLAPSE_THRESHOLD, VARIANTS
from hybridrec_ml.tensors.bundle_loader import load_training_bundle
from hybridrec_ml.evaluation.negatives import load_eval_negatives
from hybridrec_ml.evaluation.variant_evaluation import evaluate_variant, load_evaluation, save_evaluation
from hybridrec_ml.reporting.segment_summary import summarize_segments
from hybridrec_ml.reporting.tables import segment_table
from hybridrec_ml.training.run_record import load_trained_model
from hybridrec_ml.training.trainer import resolve_device


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
    variant = VARIANTS[name].with_train(seed=seed)
    torch.set_num_threads(default_torch_threads(context.instance))
    with warehouse.reader() as con:
        bundle = load_training_bundle(con, max_history=variant.dims.max_history)
        test_negatives = load_eval_negatives(con, bundle.test.event_order)
    # full ranking on a GPU when one is present
    model = load_trained_model(variant, bundle, store.path(*model_path(name, seed))).to(resolve_device(variant.train.device))
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
    segments = load_evaluation(store.path(*evaluation_path(name, seed))).segments
    summary = summarize_segments(segments, has_learned_gate=VARIANTS[name].has_learned_gate)
    check = collapse_result(
        f"{GATE_CHECK}_by_segment",
        summary.alpha_mean,
        config.collapse_threshold,
        "WARN",
        f"most concentrated segment: {summary.most_concentrated}" if summary.most_concentrated else "all segments",
    )
    table = segment_table(segments.assign(variant=name, seed=seed), config.collapse_threshold)
    metadata = {"segments": MetadataValue.md(table), **summary.metrics}
    return MaterializeResult(metadata=metadata, check_results=[check])
