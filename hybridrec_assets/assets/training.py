"""trained_model[variant, seed]: one training run per partition, tracked in MLflow, with the collapse check."""

import dataclasses
import os
import shutil
from enum import Enum

import torch
from dagster import AssetExecutionContext, Config, DagsterInstance, MaterializeResult, MetadataValue, asset
from pydantic import Field

from hybridrec_assets.assets.features import context_features, eval_negatives, item_tfidf, user_sequences
from hybridrec_assets.automation import RETRAIN_ON_NEW_DATA
from hybridrec_assets.checks import DEFAULT_COLLAPSE_THRESHOLD, collapse_result, collapse_spec
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_assets.resources import ArtifactStore, Tracker, Warehouse
from hybridrec_ml.config import VARIANTS, VariantConfig
from hybridrec_ml.data.bundle_loader import load_training_bundle
from hybridrec_ml.evaluation.negatives import load_eval_negatives
from hybridrec_ml.evaluation.protocols import make_validator
from hybridrec_ml.training.trainer import EpochStats, train

GATE_CHECK = "gate_not_collapsed"
EPOCH_CURVES = {"loss", "val_ndcg_at_10", "samples_per_s", "alpha_static", "alpha_dynamic", "alpha_content", "max_alpha_mean"}


class LossKind(Enum):
    bpr = "bpr"
    bce = "bce"


class Severity(Enum):
    WARN = "WARN"
    ERROR = "ERROR"


class TrainingConfig(Config):
    """Overrides of the variant's training settings (None keeps the variant's value)."""

    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    patience: int | None = None
    n_negatives: int | None = None
    loss: LossKind | None = None
    user_dropout: float | None = Field(default=None, description="share of training user ids replaced by the unknown user")
    device: str | None = Field(default=None, description="auto | cpu | cuda")
    torch_threads: int | None = Field(
        default=None, description="torch intra-op threads (None: the cores divided among the instance's concurrent runs)"
    )
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD
    collapse_severity: Severity = Severity.WARN

    def variant(self, name: str, seed: int) -> VariantConfig:
        overrides = {
            field.name: value.value if isinstance(value, Enum) else value
            for field in dataclasses.fields(VARIANTS[name].train)
            if (value := getattr(self, field.name, None)) is not None
        }
        return VARIANTS[name].with_train(seed=seed, **overrides)


def default_torch_threads(instance: DagsterInstance) -> int:
    """Cores per run when the instance runs several at once: on 2 cores, two runs of 2 threads each
    trained 33x slower than two runs of 1 thread (many small ops thrash oversubscribed cores)."""
    queue = instance.get_concurrency_config().run_queue_config
    concurrent_runs = queue.max_concurrent_runs if queue is not None and queue.max_concurrent_runs > 0 else 1
    return max(1, (os.cpu_count() or 1) // concurrent_runs)


def model_path(variant: str, seed: int) -> tuple[str, ...]:
    return ("models", variant, f"seed-{seed}", "model.pt")


def summary_path(variant: str, seed: int) -> tuple[str, ...]:
    return ("models", variant, f"seed-{seed}", "summary.json")


@asset(
    partitions_def=RUN_PARTITIONS,
    deps=[user_sequences, context_features, item_tfidf, eval_negatives],
    automation_condition=RETRAIN_ON_NEW_DATA,
    check_specs=[collapse_spec("trained_model", GATE_CHECK, "Fails when the largest mean α exceeds the threshold")],
    group_name="model",
    kinds={"pytorch", "mlflow"},
)
def trained_model(
    context: AssetExecutionContext, config: TrainingConfig, warehouse: Warehouse, store: ArtifactStore, tracker: Tracker
) -> MaterializeResult:
    """Train the partition's variant with its seed; checkpoints each epoch so a killed run resumes."""
    name, seed = variant_and_seed(context.partition_key)
    variant = config.variant(name, seed)
    torch.set_num_threads(config.torch_threads or default_torch_threads(context.instance))
    with warehouse.reader() as con:  # read-only: partitions train in parallel
        bundle = load_training_bundle(con, max_history=variant.dims.max_history)
        val_negatives = load_eval_negatives(con, bundle.val.event_order)
    validate = make_validator(bundle.val, val_negatives, variant.dims.max_history, variant.train.val_max_rows)
    resume_dir = store.path("checkpoints", name, f"seed-{seed}", "resume")
    tags = {"dagster_run_id": context.run.run_id, "variant": name, "seed": str(seed), "partition": str(context.partition_key)}
    with tracker.run(run_name=f"{name}-seed{seed}", tags=tags) as run:
        run.log_params({"variant": name, "description": variant.description, **dataclasses.asdict(variant.train),
                        "components": ",".join(variant.components), "gate": variant.gate,
                        "entropy_lambda": variant.entropy_lambda, "balance_lambda": variant.balance_lambda,
                        "gate_init_std": variant.gate_init_std, "n_users": bundle.n_users, "n_items": bundle.n_items})

        def log_epoch(stats: EpochStats) -> None:  # one point per epoch of each of EPOCH_CURVES
            metrics = {"loss": stats.loss, "val_ndcg_at_10": stats.val_ndcg_at_10, "samples_per_s": stats.samples_per_s}
            if stats.alpha_mean is not None:
                metrics |= dict(zip(("alpha_static", "alpha_dynamic", "alpha_content"), stats.alpha_mean))
                metrics["max_alpha_mean"] = stats.max_alpha_mean
            run.log_metrics(metrics | {f"reg_{k}": v for k, v in stats.regularizers.items()}, step=stats.epoch)
            context.log.info(f"{name} seed {seed} epoch {stats.epoch}: loss {stats.loss:.4f} val NDCG@10 {stats.val_ndcg_at_10:.4f}")

        result = train(variant, bundle, validate=validate, checkpoint_dir=resume_dir, on_epoch=log_epoch)
        summary = result.summary_metadata()
        # Per-epoch curves keep their names; the summary (best epoch, mean samples/s) must not add a
        # point at step 0 to them, so its overlapping names get a prefix.
        run.log_metrics({f"summary_{k}" if k in EPOCH_CURVES else k: v for k, v in summary.items()})
        path = store.save_model(
            {"model": result.model.state_dict(), "variant": name, "seed": seed, "n_users": bundle.n_users, "n_items": bundle.n_items},
            *model_path(name, seed),
        )
        alpha_per_epoch = [s.alpha_mean for s in result.history if s.alpha_mean is not None]
        store.write_json({"mlflow_run_id": run.run_id, "summary": summary, "alpha_per_epoch": alpha_per_epoch,
                          "history": [dataclasses.asdict(s) for s in result.history]}, *summary_path(name, seed))
        run.log_artifact(path, "model")
    shutil.rmtree(resume_dir, ignore_errors=True)  # finished: a rerun trains afresh on the current data
    best = result.history[result.best_epoch - 1] if result.best_epoch else None
    alpha = best.alpha_mean if (best is not None and variant.has_learned_gate) else None
    check = collapse_result(GATE_CHECK, alpha, config.collapse_threshold, config.collapse_severity.value, "training rows, best epoch")
    return MaterializeResult(
        metadata=summary | {
            "variant": name, "seed": seed, "device": result.device, "checkpoint": MetadataValue.path(str(path)),
            "mlflow_run_id": run.run_id, "mlflow_run": MetadataValue.url(run.url),
        },
        check_results=[check],
    )
