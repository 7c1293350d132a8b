"""Why the study's hybrid sits far below the oracle: small controlled runs against the planted ceiling.

    python bench/ceiling_diagnosis.py [--scale demo] [--mixture contrast] [--epochs 3] [--runs v1,v1_softmax,...]
                                      [--ceilings-grid 10] [--threads 1]

Builds the synthetic world through the real data steps (cached per scale and mixture in
bench/.cache/), then trains each run on one seed and prints its full-ranking NDCG@10 on the test
rows, as a % of the Bayes oracle's, overall and per true mechanism of the row (from the ground
truth), with the training CPU seconds. --ceilings-grid N also prints the oracle family
(`oracle_ceilings`: per-mechanism, best context-free and per-bucket optimal fusion, simplex step
1/N). Each run changes one thing against its neighbour:

    v1            the study's hybrid: ReLU(a + b) components + linear head, BPR, 1 uniform negative
    v1_softmax    the same model, sampled-softmax loss over 64 negatives          (the loss)
    v1_b256       v1 with batch 256 and lr 3e-3: 4x the optimizer steps          (the budget)
    plus_bpr      hybrid_plus (dot products, mixture of softmaxes), BPR, 1 negative (the form)
    plus_n64      hybrid_plus, sampled softmax over 64 negatives
    plus          hybrid_plus as registered: sampled softmax over 256 negatives, batch 256  (more negatives)
    plus_long     hybrid_plus with --long-epochs epochs                          (the budget)
    bpr_mf, pop   baselines as registered
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import torch

# Measure the code of this checkout, whatever an editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridrec_ml.config import ALL_COMPONENTS, VARIANTS, VariantConfig
from hybridrec_ml.data.warehouse import schema
from hybridrec_ml.tensors.bundle import TrainingBundle
from hybridrec_ml.tensors.bundle_loader import load_training_bundle
from hybridrec_ml.tensors.sequences import batch_maker
from hybridrec_ml.data.sources.registry import SyntheticOptions
from hybridrec_ml.data_layer import synthetic_warehouse
from hybridrec_ml.data.synthetic.truth import load_planted_truth
from hybridrec_ml.evaluation.metrics import ndcg_at_k
from hybridrec_ml.evaluation.oracle_ceilings import oracle_ceilings
from hybridrec_ml.evaluation.protocols import EvalResult, evaluate_full, make_validator
from hybridrec_ml.models.oracle import PlantedOracle
from hybridrec_ml.training.trainer import train

RUNS: dict[str, tuple[str, dict[str, object]]] = {
    "v1": ("v1", {}),
    "v1_softmax": ("v1", {"loss": "softmax", "n_negatives": 64}),
    "v1_b256": ("v1", {"batch_size": 256, "lr": 3e-3}),
    "plus_bpr": ("hybrid_plus", {"loss": "bpr", "n_negatives": 1}),
    "plus_n64": ("hybrid_plus", {"n_negatives": 64}),
    "plus": ("hybrid_plus", {}),
    "plus_long": ("hybrid_plus", {}),
    "bpr_mf": ("bpr_mf", {}),
    "pop": ("pop", {}),
}
_MECHANISM_SQL = f"""
SELECT s.event_order, g.mechanism
FROM {schema.TEMPORAL_SPLIT} AS s
JOIN {schema.USER_INDEX} AS u USING (user_idx)
JOIN {schema.ITEM_INDEX} AS i USING (item_idx)
JOIN (SELECT user_id, item_id, arg_min(mechanism, ts) AS mechanism FROM {schema.GROUND_TRUTH} GROUP BY ALL) AS g
  ON g.user_id = u.user_id AND g.item_id = i.item_id
WHERE s.split = 'test'
"""


def warehouse(scale: str, mixture: str, cache_dir: Path, *, day_granular: bool = False) -> Path:
    """The scale's DuckDB file with every table training and evaluation read (built once)."""
    folder = cache_dir / f"diagnosis-{scale}-{mixture}{'-day' if day_granular else ''}"
    return synthetic_warehouse(folder, SyntheticOptions(scale=scale, mixture=mixture, day_granular=day_granular))


def by_mechanism(result: EvalResult, mechanism: dict[int, str]) -> dict[str, float]:
    ndcg = ndcg_at_k(result.ranks, 10)
    label = np.array([mechanism[int(e)] for e in result.event_order])
    return {name: float(ndcg[label == name].mean()) for name in ALL_COMPONENTS}


def run(variant: VariantConfig, bundle: TrainingBundle) -> tuple[EvalResult, float, int]:
    validate = make_validator(
        bundle.val, bundle.timeline, bundle.n_items, variant.train.val_max_rows, make_query=batch_maker(variant, bundle, "val")
    )
    cpu = time.process_time()
    result = train(variant, bundle, validate=validate)
    seconds = time.process_time() - cpu
    full = evaluate_full(result.model, bundle.test, bundle.timeline, bundle.n_items)
    return full, seconds, len(result.history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--mixture", default="contrast")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--long-epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ceilings-grid", type=int, default=0, help="0: skip the oracle family")
    parser.add_argument("--cache-dir", type=Path, default=Path(__file__).parent / ".cache")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    database = warehouse(args.scale, args.mixture, args.cache_dir)
    with duckdb.connect(str(database), read_only=True) as con:
        bundle = load_training_bundle(con)
        truth = load_planted_truth(con)
        mechanism = dict(con.execute(_MECHANISM_SQL).fetchall())
    planted = PlantedOracle(truth, (bundle.train, bundle.val, bundle.test), bundle.n_items)
    oracle = evaluate_full(planted, bundle.test, bundle.timeline, bundle.n_items)
    ceiling = oracle.metrics["ndcg@10"]
    counts = {m: sum(1 for e in oracle.event_order if mechanism[int(e)] == m) for m in ALL_COMPONENTS}
    warm_users = len(np.unique(bundle.test.user.numpy()))
    print(f"{args.scale} ({args.mixture}): {len(bundle.test)} test rows of {warm_users} users with a training "
          f"interaction, by true mechanism {counts}; seed {args.seed}, "
          f"{args.epochs} epochs (plus_long: {args.long_epochs}), {args.threads} thread(s)")
    header = f"{'run':<11} {'NDCG@10':>8} {'% oracle':>8} " + " ".join(f"{m:>8}" for m in ALL_COMPONENTS)
    print(header + f" {'epochs':>6} {'cpu s':>7}")

    def line(name: str, full: EvalResult, seconds: float, epochs: int) -> None:
        ndcg = full.metrics["ndcg@10"]
        parts = by_mechanism(full, mechanism)
        print(f"{name:<11} {ndcg:8.4f} {100 * ndcg / ceiling:7.1f}% " + " ".join(f"{parts[m]:8.4f}" for m in ALL_COMPONENTS)
              + f" {epochs:6d} {seconds:7.0f}", flush=True)

    line("oracle", oracle, 0.0, 0)
    if args.ceilings_grid:
        ceilings = oracle_ceilings(
            planted, bundle.test, bundle.timeline, bundle.n_items, grid_steps=args.ceilings_grid
        )
        print(f"per mechanism {ceilings.per_mechanism}; best context-free {ceilings.context_free:.4f} at "
              f"{ceilings.context_free_mixture}; context-aware oracle {100 * ceilings.context_gain:+.1f}% above it")
        for bucket in ceilings.fusion_by_bucket:
            print(f"  {bucket.bucket}: {bucket.n_rows} rows, planted {bucket.planted}, oracle-optimal fusion "
                  f"{bucket.optimal} (NDCG@10 {bucket.optimal_ndcg_at_10:.4f})")
    for name in filter(None, args.runs.split(",")):
        variant_name, overrides = RUNS[name]
        epochs = args.long_epochs if name == "plus_long" else args.epochs
        patience = epochs if name == "plus_long" else VARIANTS[variant_name].train.patience
        variant = VARIANTS[variant_name].with_train(seed=args.seed, epochs=epochs, patience=patience, **overrides)
        full, seconds, trained = run(variant, bundle)
        line(name, full, seconds, trained)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")


if __name__ == "__main__":
    main()
