"""evaluation[variant, seed] (three protocols on every test user) and segment_report[variant, seed]."""

import torch
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from hybridrec_assets.artifacts import evaluation_path, model_path, summary_path
from hybridrec_assets.defs.data.assets import MaskKind
from hybridrec_assets.automation import FOLLOW_UPSTREAM
from hybridrec_assets.defs.model.assets import trained_model
from hybridrec_assets.defs.model.checks import GATE_CHECK, collapse_result, collapse_spec
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_assets.resources import ArtifactStore, Tracker, Warehouse
from hybridrec_assets.torch_threads import default_torch_threads
from hybridrec_ml.config import DEFAULT_COLLAPSE_THRESHOLD, VARIANTS
from hybridrec_ml.tensors.bundle_loader import load_training_bundle
from hybridrec_ml.evaluation.negatives import load_eval_negatives
from hybridrec_ml.evaluation.segments import DEFAULT_SEGMENT_BOUNDS
from hybridrec_ml.evaluation.segments import segment_report as segments_of_users  # the asset below has its name
from hybridrec_ml.evaluation.variant_evaluation import evaluate_variant, load_evaluation, save_evaluation
from hybridrec_ml.reporting.segment_summary import summarize_segments
from hybridrec_ml.reporting.tables import segment_table
from hybridrec_ml.training.run_record import load_trained_model


class EvaluationConfig(Config):
    mask: MaskKind = Field(
        default=MaskKind.history,
        description="history: full ranking masks whatever the user had before the row (train, val, earlier test); "
        "train_only: only training items (the study's rule, for comparison)",
    )


class SegmentConfig(Config):
    bounds: list[int] = Field(
        default=list(DEFAULT_SEGMENT_BOUNDS), description="Upper bounds of the training-history segments (0 = cold users)"
    )
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD


@asset(
    partitions_def=RUN_PARTITIONS,
    deps=[trained_model],
    group_name="evaluation",
    kinds={"pytorch"},
    automation_condition=FOLLOW_UPSTREAM,
)
def evaluation(
    context: AssetExecutionContext, config: EvaluationConfig, warehouse: Warehouse, store: ArtifactStore, tracker: Tracker
) -> MaterializeResult:
    """Per row (stored 99 negatives; full catalogue) and per user (RecBole full sort), every test user."""
    name, seed = variant_and_seed(context.partition_key)
    variant = VARIANTS[name].with_train(seed=seed)
    torch.set_num_threads(default_torch_threads(context.instance))
    with warehouse.reader() as con:
        bundle = load_training_bundle(con, max_history=variant.dims.max_history)
        test_negatives = load_eval_negatives(con, bundle.test.event_order)
    model = load_trained_model(variant, bundle, store.path(*model_path(name, seed)))
    summary = store.read_json(*summary_path(name, seed))
    result = evaluate_variant(
        model, bundle, test_negatives, variant=name, seed=seed, alpha_per_epoch=summary["alpha_per_epoch"],
        mask=config.mask.value,
    )
    path = save_evaluation(result, store.path(*evaluation_path(name, seed)))
    metrics = result.metadata()
    tracker.existing(summary["mlflow_run_id"]).log_metrics(metrics)  # same run as the training: one place to look
    return MaterializeResult(
        metadata=metrics | {"mask": config.mask.value, "evaluation_file": MetadataValue.path(str(path))}
    )


@asset(
    partitions_def=RUN_PARTITIONS,
    deps=[evaluation],
    automation_condition=FOLLOW_UPSTREAM,
    check_specs=[collapse_spec("segment_report", f"{GATE_CHECK}_by_segment", "The collapse check in every user segment")],
    group_name="evaluation",
)
def segment_report(context: AssetExecutionContext, config: SegmentConfig, store: ArtifactStore) -> MaterializeResult:
    """Test users by training-history length (0 = cold) and the cold-item slice: per-user NDCG@10, Recall@10, mean α."""
    name, seed = variant_and_seed(context.partition_key)
    users = load_evaluation(store.path(*evaluation_path(name, seed))).users
    has_gate = VARIANTS[name].has_learned_gate
    segments = segments_of_users(
        users, has_gate=has_gate, bounds=tuple(config.bounds), collapse_threshold=config.collapse_threshold
    )
    summary = summarize_segments(segments)
    check = collapse_result(
        f"{GATE_CHECK}_by_segment",
        summary.alpha_mean,
        config.collapse_threshold,
        "WARN",
        f"most concentrated segment: {summary.most_concentrated}" if summary.most_concentrated else "all segments",
    )
    table = segment_table(segments.assign(variant=name, seed=seed))
    metadata = {"segments": MetadataValue.md(table), **summary.metrics}
    return MaterializeResult(metadata=metadata, check_results=[check])
