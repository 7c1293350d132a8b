"""trained_model[variant, seed]: one training run per partition, tracked in MLflow, with the collapse check."""

import dataclasses
from enum import Enum

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from hybridrec_assets.artifacts import model_path, resume_path, summary_path
from hybridrec_assets.automation import RETRAIN_ON_NEW_DATA
from hybridrec_assets.defs.data.assets import context_features, item_tfidf, user_sequences
from hybridrec_assets.defs.model.checks import GATE_CHECK, collapse_result, collapse_spec
from hybridrec_assets.executors import GPU_STEP_TAGS
from hybridrec_assets.metadata import rounded_metadata
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_assets.resources import ArtifactStore, Tracker, Warehouse
from hybridrec_assets.profile import run_profile
from hybridrec_assets.torch_threads import default_torch_threads
from hybridrec_ml.config import DEFAULT_COLLAPSE_THRESHOLD, VARIANTS, VariantConfig



class LossKind(Enum):
    bpr = "bpr"
    bce = "bce"
    softmax = "softmax"
    cross_entropy = "cross_entropy"


class Resume(Enum):
    auto = "auto"  # resume this run's checkpoint; one of another config or dataset: start fresh, warn
    never = "never"
    require = "require"


class Severity(Enum):
    WARN = "WARN"
    ERROR = "ERROR"


class TrainingConfig(Config):
    """Overrides of the variant's training settings (None keeps the variant's value)."""

    profile: str | None = Field(
        default=None, description="demo | research (epoch budget and patience); None: $HYBRIDREC_PROFILE, else demo"
    )
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    patience: int | None = None
    n_negatives: int | None = None
    loss: LossKind | None = None
    user_dropout: float | None = Field(default=None, description="share of training user ids replaced by the unknown user")
    device: str | None = Field(default=None, description="auto | cpu | cuda")
    sequence: str | None = Field(default=None, description="chunks (one GRU pass per sequence chunk) | window (per row)")
    torch_threads: int | None = Field(
        default=None, description="torch intra-op threads (None: the cores divided among the instance's concurrent runs)"
    )
    resume: Resume = Field(
        default=Resume.auto, description="auto | never | require: what a killed run's checkpoint is worth"
    )
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD
    collapse_severity: Severity = Severity.WARN

    def variant(self, name: str, seed: int) -> VariantConfig:
        overrides = {
            field.name: value.value if isinstance(value, Enum) else value
            for field in dataclasses.fields(VARIANTS[name].train)
            if field.name != "profile" and (value := getattr(self, field.name, None)) is not None
        }
        return VARIANTS[name].with_profile(run_profile(self.profile)).with_train(seed=seed, **overrides)


@asset(
    partitions_def=RUN_PARTITIONS,
    deps=[user_sequences, context_features, item_tfidf],  # not eval_negatives: new negatives re-evaluate, never retrain
    automation_condition=RETRAIN_ON_NEW_DATA,
    check_specs=[collapse_spec("trained_model", GATE_CHECK, "Fails when the largest mean α exceeds the threshold")],
    group_name="model",
    kinds={"pytorch", "mlflow"},
    op_tags=GPU_STEP_TAGS,
)
def trained_model(
    context: AssetExecutionContext, config: TrainingConfig, warehouse: Warehouse, store: ArtifactStore, tracker: Tracker
) -> MaterializeResult:
    """Train the partition's variant with its seed; checkpoints each epoch so a killed run resumes."""
    import torch  # torch and the training code load in this step, not with the definitions

    from hybridrec_ml.data.synthetic.truth import load_planted_truth
    from hybridrec_ml.tensors.bundle_loader import load_training_bundle
    from hybridrec_ml.tensors.sequences import batch_maker
    from hybridrec_ml.evaluation.protocols import make_validator
    from hybridrec_ml.training.run_record import (
        best_epoch_alpha,
        best_epoch_effective_share,
        epoch_metrics,
        model_record,
        resume_folder,
        run_params,
        summary_metrics,
        summary_record,
        swap_tracked_run,
    )
    from hybridrec_ml.training.trainer import EpochStats, train

    name, seed = variant_and_seed(context.partition_key)
    variant = config.variant(name, seed)
    torch.set_num_threads(config.torch_threads or default_torch_threads(context.instance))
    with warehouse.reader() as con:  # read-only: partitions train in parallel
        bundle = load_training_bundle(con, max_history=variant.dims.max_history)
        truth = load_planted_truth(con) if variant.model == "oracle" else None
    validate = make_validator(
        bundle.val, bundle.timeline, bundle.n_items, variant.train.val_max_rows,
        make_query=batch_maker(variant, bundle, "val"),
    )
    tags = {"dagster_run_id": context.run.run_id, "variant": name, "seed": str(seed), "partition": str(context.partition_key)}
    with (
        resume_folder(store.path(*resume_path(name, seed))) as resume_dir,
        tracker.run(run_name=f"{name}-seed{seed}", tags=tags) as run,
    ):
        run.log_params(run_params(variant, bundle.n_users, bundle.n_items))
        previous = swap_tracked_run(resume_dir, run.run_id)
        if previous is not None and run.take_over(previous):
            context.log.warning(f"MLflow run {previous} of a killed attempt marked KILLED; {run.run_id} takes over")

        def log_epoch(stats: EpochStats) -> None:
            run.log_metrics(epoch_metrics(stats), step=stats.epoch)
            context.log.info(f"{name} seed {seed} epoch {stats.epoch}: loss {stats.loss:.4f} val NDCG@10 {stats.val_ndcg_at_10:.4f}")

        result = train(
            variant, bundle, validate=validate, checkpoint_dir=resume_dir, on_epoch=log_epoch, resume=config.resume.value,
            truth=truth,
        )
        for stats in result.history[: result.resumed_from_epoch]:  # the restored epochs: curves start at 1
            run.log_metrics(epoch_metrics(stats), step=stats.epoch)
        if result.resumed_from_epoch:
            context.log.info(f"{name} seed {seed} resumed from epoch {result.resumed_from_epoch}")
        summary = result.summary_metadata()
        run.log_metrics(summary_metrics(summary))
        path = store.save_model(model_record(result, name, seed, bundle, run.run_id), *model_path(name, seed))
        store.write_json(summary_record(result, run.run_id, variant), *summary_path(name, seed))
        run.log_artifact(path, "model")
    alpha = best_epoch_alpha(result, variant.has_learned_gate)
    check = collapse_result(
        GATE_CHECK, alpha, config.collapse_threshold, config.collapse_severity.value, "training rows, best epoch",
        effective_share=best_epoch_effective_share(result, variant.has_learned_gate),
    )  # fmt: skip
    return MaterializeResult(
        metadata=rounded_metadata(summary | {
            "variant": name, "seed": seed, "device": result.device, "resumed_from_epoch": result.resumed_from_epoch,
            "checkpoint": MetadataValue.path(str(path)),
            "mlflow_run_id": run.run_id, "mlflow_run": MetadataValue.url(run.url),
        }),
        check_results=[check],
    )
