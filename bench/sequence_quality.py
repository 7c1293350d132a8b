"""Validation NDCG@10 of v1 trained on the sequence path (chunks) vs the per-row window path.

Both train with the same seed and profile and are validated the way early stopping is (full
ranking of the val rows, mean over users), each on its own history path. Prints per path the best
validation NDCG@10, its epoch, the epochs run and whether the run stopped early.

    python bench/sequence_quality.py --data pipeline|long [--profile demo] [--epochs N] [--users 200] [--seeds 42]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, whatever is installed

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.evaluation.protocols import validator_for
from hybridrec_ml.training.trainer import train
from training_throughput import generated_bundle, pipeline_bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("pipeline", "long"), default="pipeline")
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--seeds", default="42")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None, help="override the profile's epoch cap")
    parser.add_argument("--users", type=int, default=200, help="users of --data long (120 interactions each)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    max_history = VARIANTS["v1"].dims.max_history
    if args.data == "pipeline":
        with tempfile.TemporaryDirectory() as work_dir:
            bundle = pipeline_bundle(Path(work_dir), max_history)
    else:
        bundle = generated_bundle(n_users=args.users, per_user=120, max_history=max_history)
    print(f"data {args.data}: {len(bundle.train)} train rows, {len(bundle.val)} val rows; profile {args.profile}")
    for seed in (int(s) for s in args.seeds.split(",")):
        for path in ("chunks", "window"):
            variant = VARIANTS["v1"].with_profile(args.profile).with_train(sequence=path, seed=seed, device="cpu")
            if args.epochs is not None:
                variant = variant.with_train(epochs=args.epochs)
            validate = validator_for(variant, bundle)
            started = time.perf_counter()
            result = train(variant, bundle, validate=validate)
            print(
                f"seed {seed} v1 ({path:<6}): best val NDCG@10 {result.best_val_ndcg_at_10:.4f} at epoch "
                f"{result.best_epoch} of {len(result.history)} (cap {result.max_epochs}, "
                f"{'stopped early' if result.stopped_early else 'hit the cap'}), {time.perf_counter() - started:.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
