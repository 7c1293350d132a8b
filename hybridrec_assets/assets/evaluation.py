"""evaluation[variant, seed] (three protocols on every test user) and segment_report[variant, seed]."""

import re

import torch
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from hybridrec_assets.assets.features import MaskKind
from hybridrec_assets.assets.training import (
    GATE_CHECK,
    TrainingConfig,
    default_torch_threads,
    model_path,
    summary_path,
    trained_model,
)
from hybridrec_assets.checks import DEFAULT_COLLAPSE_THRESHOLD, collapse_result, collapse_spec
from hybridrec_assets.automation import FOLLOW_UPSTREAM
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_assets.resources import ArtifactStore, Tracker, Warehouse
from hybridrec_ml.config import VARIANTS
from hybridrec_ml.data.bundle_loader import load_training_bundle
from hybridrec_ml.evaluation.negatives import load_eval_negatives
from hybridrec_ml.evaluation.segments import ALPHA_COLUMNS, DEFAULT_SEGMENT_BOUNDS, segment_report
from hybridrec_ml.evaluation.variant_evaluation import evaluate_variant, load_evaluation, save_evaluation
from hybridrec_ml.models.factory import build_model
from hybridrec_ml.reporting.tables import segment_table
from hybridrec_ml.training.checkpoint import load_checkpoint


def evaluation_path(variant: str, seed: int) -> tuple[str, ...]:
    return ("evaluation", variant, f"seed-{seed}", "evaluation.npz")


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
    variant = TrainingConfig().variant(name, seed)
    torch.set_num_threads(default_torch_threads(context.instance))
    with warehouse.reader() as con:
        bundle = load_training_bundle(con, max_history=variant.dims.max_history)
        test_negatives = load_eval_negatives(con, bundle.test.event_order)
    model = build_model(variant, bundle)
    model.load_state_dict(load_checkpoint(store.path(*model_path(name, seed)))["model"])
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
    result = load_evaluation(store.path(*evaluation_path(name, seed)))
    has_gate = VARIANTS[name].has_learned_gate
    segments = segment_report(
        result.users, has_gate=has_gate, bounds=tuple(config.bounds), collapse_threshold=config.collapse_threshold
    )
    alpha_columns = list(ALPHA_COLUMNS)
    populated = segments[segments["collapsed"].notna()]
    worst = populated.loc[populated[alpha_columns].max(axis=1).idxmax()] if has_gate and len(populated) else None
    check = collapse_result(
        f"{GATE_CHECK}_by_segment",
        tuple(float(worst[c]) for c in alpha_columns) if worst is not None else None,
        config.collapse_threshold,
        "WARN",
        f"most concentrated segment: {worst['segment']}" if worst is not None else "all segments",
    )
    metadata = {"segments": MetadataValue.md(segment_table(segments.assign(variant=name, seed=seed)))}
    for _, row in segments[segments["n_users"] > 0].iterrows():
        key = "segment_" + re.sub(r"[^0-9a-z]+", "_", row["segment"].replace(">", "over_")).strip("_")
        metadata |= {
            f"{key}_ndcg_at_10": float(row["ndcg@10"]), f"{key}_users": int(row["n_users"]), f"{key}_rows": int(row["n_rows"]),
        }
    return MaterializeResult(metadata=metadata, check_results=[check])
