"""gate_diagnosis[variant, seed] (effective shares, drop-a-component NDCG, gate dynamics) and collapse_report."""

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from hybridrec_assets.artifacts import collapse_report_path, diagnosis_path, evaluation_path, model_path, summary_path
from hybridrec_assets.defs.evaluation.assets import evaluation, evaluation_device
from hybridrec_assets.metadata import rounded_metadata
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_assets.resources import ArtifactStore, Warehouse
from hybridrec_assets.torch_threads import default_torch_threads
from hybridrec_ml.config import DEFAULT_COLLAPSE_THRESHOLD, DEFAULT_SEGMENT_BOUNDS, VARIANTS


class DiagnosisConfig(Config):
    bounds: list[int] = Field(
        default=list(DEFAULT_SEGMENT_BOUNDS), description="Upper bounds of the training-history segments (0 = cold users)"
    )


# No automation condition: the diagnosis is an experiment run on demand (pipeline --diagnose), not upkeep.
@asset(partitions_def=RUN_PARTITIONS, deps=[evaluation], group_name="diagnosis", kinds={"pytorch"})
def gate_diagnosis(
    context: AssetExecutionContext, config: DiagnosisConfig, warehouse: Warehouse, store: ArtifactStore
) -> MaterializeResult:
    """What α cannot show: each component's effective share and the test NDCG@10 lost without it, per segment,
    on the full ranking of the partition's evaluation (its α, catalogue spreads, mask and NDCG@10)."""
    import torch  # torch and the evaluation code load in this step, not with the definitions

    from hybridrec_ml.evaluation.contributions import ALL_ROWS, component_contributions, diagnosis_record
    from hybridrec_ml.evaluation.variant_evaluation import load_evaluation
    from hybridrec_ml.models.hybrid import HybridRecommender
    from hybridrec_ml.tensors.bundle_loader import load_training_bundle
    from hybridrec_ml.tensors.sequences import batch_maker
    from hybridrec_ml.training.run_record import load_trained_model

    name, seed = variant_and_seed(context.partition_key)
    summary = store.read_json(*summary_path(name, seed))
    variant = VARIANTS[name].with_train(**summary["train_config"])  # the settings the model was trained with
    if not variant.has_learned_gate:
        store.write_json(diagnosis_record(name, seed, summary, None), *diagnosis_path(name, seed))
        return MaterializeResult(metadata={"applicable": False, "note": "not applicable: no learned gate"})
    torch.set_num_threads(default_torch_threads(context.instance))
    with warehouse.reader() as con:
        bundle = load_training_bundle(con, max_history=variant.dims.max_history)
    model = load_trained_model(variant, bundle, store.path(*model_path(name, seed))).to(evaluation_device(summary["device"]))
    if not isinstance(model, HybridRecommender):
        raise ValueError(f"{name}: the diagnosis decomposes the hybrid's linear head (b + Σ α_k s_k); "
                         f"a {variant.model} model fuses differently")  # fmt: skip
    evaluated = load_evaluation(store.path(*evaluation_path(name, seed)))
    frame = component_contributions(
        model, bundle, evaluated, bounds=tuple(config.bounds), make_query=batch_maker(variant, bundle, "test")
    )
    record = diagnosis_record(name, seed, summary, frame, evaluated)
    path = store.write_json(record, *diagnosis_path(name, seed))
    overall = frame[frame.segment == ALL_ROWS].set_index("component")
    return MaterializeResult(
        metadata=rounded_metadata({
            "applicable": True,
            **{f"effective_share_{c}": float(v) for c, v in overall["effective_share"].items()},
            **{f"ndcg_drop_{c}": float(v) for c, v in overall["ndcg_drop"].items()},
            "ndcg_at_10_full": record["ndcg_full_user_ci"]["mean"],
            "ndcg_at_10_sampled": record["ndcg_sampled_user_ci"]["mean"],
            "diagnosis_file": MetadataValue.path(str(path)),
        })
    )


@asset(deps=[gate_diagnosis], group_name="collapse_report", kinds={"html"})
def collapse_report(context: AssetExecutionContext, store: ArtifactStore) -> MaterializeResult:
    """"Why does the gate collapse?": the factor grid, the fixes, their dynamics and a computed verdict."""
    from hybridrec_ml.reporting.collapse_report import write_collapse_report  # plotly loads in this step

    keys = [variant_and_seed(key) for key in RUN_PARTITIONS.get_partition_keys()]
    present = [(name, seed) for name, seed in keys if store.locate(*diagnosis_path(name, seed)).exists()]
    if not present:
        raise ValueError("no gate_diagnosis partition materialized yet: run the collapse selection first (README)")
    records = [store.read_json(*diagnosis_path(name, seed)) for name, seed in present]
    report = write_collapse_report(records, store.path(*collapse_report_path()), DEFAULT_COLLAPSE_THRESHOLD)
    context.log.info(f"collapse report written to {report.path}")
    return MaterializeResult(
        metadata={
            "report": MetadataValue.path(str(report.path)),
            "verdict": MetadataValue.md(report.verdict),
            "factor_table": MetadataValue.md(report.factor_table),
            "diagnosed_partitions": len(records),
        }
    )
