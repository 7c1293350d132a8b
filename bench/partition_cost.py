"""CPU cost of one (variant, seed) partition on a warehouse: training (with its per-epoch validation) and test evaluation.

    python bench/partition_cost.py --database PATH [--variants v1,bpr_mf,neumf] [--epochs 2] [--threads 1]

Process CPU seconds (not wall time), so that a busy shared machine changes the figures little;
the pipeline's wall time on 2 cores is about (sum over partitions of CPU seconds) / 2. Training
runs as `trained_model` runs it (full-ranking validation on the variant's history path); the
evaluation is `evaluate_variant`, the three protocols of the `evaluation` asset. The last column
extrapolates to the variant's own epoch budget (the `demo` profile's 6 epochs; 0 for untrained models).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb
import torch

# Measure the code of this checkout, whatever an editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.data.synthetic.truth import load_planted_truth
from hybridrec_ml.evaluation.negatives import load_eval_negatives
from hybridrec_ml.evaluation.protocols import validator_for
from hybridrec_ml.evaluation.variant_evaluation import evaluate_variant
from hybridrec_ml.tensors.bundle_loader import load_training_bundle
from hybridrec_ml.tensors.sequences import batch_maker
from hybridrec_ml.training.trainer import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--variants", default="v1,hybrid_plus,oracle")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with duckdb.connect(str(args.database), read_only=True) as con:
        bundle = load_training_bundle(con)
        test_negatives = load_eval_negatives(con, bundle.test.event_order)
        wanted = args.variants.split(",")
        truth = load_planted_truth(con) if "oracle" in wanted else None
    print(f"{args.database}: {len(bundle.train)} train, {len(bundle.val)} val, {len(bundle.test)} test rows; "
          f"{args.threads} thread(s)")
    print(f"{'variant':<12} {'epochs':>6} {'cpu s/epoch':>11} {'eval cpu s':>10} {'6-epoch partition cpu s':>24}")
    for name in wanted:
        variant = VARIANTS[name].with_train(epochs=args.epochs, patience=args.epochs)
        validate = validator_for(variant, bundle)
        started = time.process_time()
        result = train(variant, bundle, validate=validate, truth=truth)
        per_epoch = (time.process_time() - started) / max(1, len(result.history))
        started = time.process_time()
        evaluate_variant(result.model, bundle, test_negatives, variant=name, seed=variant.train.seed,
                         alpha_per_epoch=[], make_query=batch_maker(variant, bundle, "test"))  # fmt: skip
        evaluation = time.process_time() - started
        epochs = VARIANTS[name].train.epochs if result.history else 0
        fit = per_epoch if not result.history else 0.0  # untrained: the fit / one validation
        print(f"{name:<12} {len(result.history):6d} {per_epoch:11.1f} {evaluation:10.1f} "
              f"{epochs * per_epoch + fit + evaluation:24.0f}", flush=True)


if __name__ == "__main__":
    main()
