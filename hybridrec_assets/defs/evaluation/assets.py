"""evaluation[variant, seed] (three protocols on every test user) and segment_report[variant, seed]."""

from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from hybridrec_assets.artifacts import ceilings_path, evaluation_path, model_path, summary_path
from hybridrec_assets.defs.data.assets import MaskKind, eval_negatives
from hybridrec_assets.automation import FOLLOW_UPSTREAM
from hybridrec_assets.defs.model.assets import trained_model
from hybridrec_assets.defs.model.checks import GATE_CHECK, collapse_result, collapse_spec
from hybridrec_assets.executors import GPU_STEP_TAGS
from hybridrec_assets.metadata import rounded_metadata
from hybridrec_assets.partitions import RUN_PARTITIONS, seeds_from_env, variant_and_seed
from hybridrec_assets.resources import ArtifactStore, Tracker, Warehouse
from hybridrec_assets.torch_threads import default_torch_threads
from hybridrec_ml.config import DEFAULT_COLLAPSE_THRESHOLD, DEFAULT_SEGMENT_BOUNDS, VARIANTS

if TYPE_CHECKING:
    import torch


class EvaluationConfig(Config):
    mask: MaskKind = Field(
        default=MaskKind.history,
        description="history: full ranking masks whatever the user had before the row (train, val, earlier test); "
        "train_only: only training items (the study's rule, for comparison)",
    )
    # scoring block sizes (None: per-device defaults); they bound memory and never change a rank
    batch_size: int | None = Field(default=None, description="Rows per sampled-protocol scoring call")
    row_chunk: int | None = Field(default=None, description="Rows per full-ranking block")
    item_chunk: int | None = Field(default=None, description="Catalogue items per full-ranking block")


class SegmentConfig(Config):
    bounds: list[int] = Field(
        default=list(DEFAULT_SEGMENT_BOUNDS), description="Upper bounds of the training-history segments (0 = cold users)"
    )
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD


@asset(
    partitions_def=RUN_PARTITIONS,
    deps=[trained_model, eval_negatives],
    group_name="evaluation",
    kinds={"pytorch"},
    op_tags=GPU_STEP_TAGS,
    automation_condition=FOLLOW_UPSTREAM,
)
def evaluation(
    context: AssetExecutionContext, config: EvaluationConfig, warehouse: Warehouse, store: ArtifactStore, tracker: Tracker
) -> MaterializeResult:
    """Per row (stored 99 negatives; full catalogue) and per user (RecBole full sort), every test user."""
    import torch  # torch and the evaluation code load in this step, not with the definitions

    from hybridrec_ml.data.synthetic.truth import load_planted_truth
    from hybridrec_ml.evaluation.negatives import load_eval_negatives
    from hybridrec_ml.evaluation.oracle_ceilings import oracle_ceilings
    from hybridrec_ml.evaluation.protocols import model_device
    from hybridrec_ml.evaluation.variant_evaluation import evaluate_variant, save_evaluation
    from hybridrec_ml.tensors.bundle_loader import load_training_bundle
    from hybridrec_ml.tensors.sequences import batch_maker
    from hybridrec_ml.training.run_record import load_trained_model

    name, seed = variant_and_seed(context.partition_key)
    summary = store.read_json(*summary_path(name, seed))
    variant = VARIANTS[name].with_train(**summary["train_config"])  # the settings the model was trained with
    torch.set_num_threads(default_torch_threads(context.instance))
    with warehouse.reader() as con:
        bundle = load_training_bundle(con, max_history=variant.dims.max_history)
        test_negatives = load_eval_negatives(con, bundle.test.event_order)
        truth = load_planted_truth(con) if variant.model == "oracle" else None
    model = load_trained_model(variant, bundle, store.path(*model_path(name, seed)), truth).to(evaluation_device(summary["device"]))
    result = evaluate_variant(
        model, bundle, test_negatives, variant=name, seed=seed, alpha_per_epoch=summary["alpha_per_epoch"],
        mask=config.mask.value, make_query=batch_maker(variant, bundle, "test"), training=training_of(summary["summary"]),
        batch_size=config.batch_size, row_chunk=config.row_chunk, item_chunk=config.item_chunk,
    )
    path = save_evaluation(result, store.path(*evaluation_path(name, seed)))
    metrics = result.metadata()
    # What each kind of knowledge is worth, for the report's gate section: the oracle's seeds are
    # identical, so only the partition of the first seed computes it (~66 full-ranking passes).
    if variant.model == "oracle" and str(seed) == seeds_from_env()[0]:
        ceilings = oracle_ceilings(model, bundle.test, bundle.timeline, bundle.n_items)
        ceilings.save(store.path(*ceilings_path(seed)))
        metrics |= {"context_free_oracle_ndcg_at_10": ceilings.context_free, "context_gain": ceilings.context_gain}
    run = tracker.existing(summary["mlflow_run_id"])  # same run as the training: one place to look
    run.log_metrics(metrics)
    run.log_artifact(path, "evaluation")  # the durable copy: object storage when the tracker's artifacts are there
    return MaterializeResult(
        metadata=rounded_metadata(metrics | result.training | {
            "mask": config.mask.value, "device": str(model_device(model)), "evaluation_file": MetadataValue.path(str(path)),
        })
    )


def training_of(summary: dict) -> dict:
    """What every result row says about its training: profile, best epoch, epochs run, the cap, stopped early."""
    return {key: summary[key] for key in ("profile", "best_epoch", "epochs", "max_epochs", "stopped_early")}


def evaluation_device(trained_on: str) -> "torch.device":
    """Score where the model trained; a CUDA-trained model is scored on the CPU only where no GPU is left."""
    import torch

    device = torch.device(trained_on)
    return device if device.type != "cuda" or torch.cuda.is_available() else torch.device("cpu")


@asset(
    partitions_def=RUN_PARTITIONS,
    deps=[evaluation],
    automation_condition=FOLLOW_UPSTREAM,
    check_specs=[collapse_spec("segment_report", f"{GATE_CHECK}_by_segment", "The collapse check in every user segment")],
    group_name="evaluation",
)
def segment_report(context: AssetExecutionContext, config: SegmentConfig, store: ArtifactStore) -> MaterializeResult:
    """Test users by training-history length (0 = cold) and the cold-item slice: per-user NDCG@10, Recall@10, mean α."""
    from hybridrec_ml.evaluation.segments import segment_report as segments_of_users  # the asset has its name
    from hybridrec_ml.evaluation.variant_evaluation import load_evaluation
    from hybridrec_ml.reporting.segment_summary import summarize_segments
    from hybridrec_ml.reporting.tables import segment_table

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
    return MaterializeResult(metadata=rounded_metadata(metadata), check_results=[check])
