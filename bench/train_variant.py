"""Train one registered variant, with overrides, on a warehouse and print its full-ranking NDCG@10.

    python bench/train_variant.py DATABASE VARIANT ['{"epochs": 3, "batch_size": 256, "lr": 0.003,
                                                    "dims": {"embedding_dim": 256}}']

The JSON overrides TrainConfig fields (and ModelDims fields under "dims"). Prints each epoch's loss,
validation NDCG@10 (full ranking, the early-stopping validator), wall seconds and mean α, then the test full-ranking NDCG@10. The
warehouse is any built one, e.g. bench/.cache/diagnosis-demo-contrast/warehouse.duckdb from
`bench/ceiling_diagnosis.py`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import duckdb
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridrec_ml.config import VARIANTS  # noqa: E402
from hybridrec_ml.evaluation.protocols import evaluate_full, user_mean, validator_for  # noqa: E402
from hybridrec_ml.tensors.bundle_loader import load_training_bundle  # noqa: E402
from hybridrec_ml.tensors.sequences import batch_maker  # noqa: E402
from hybridrec_ml.training.trainer import train  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    database, name = sys.argv[1], sys.argv[2]
    overrides = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    with duckdb.connect(database, read_only=True) as con:
        bundle = load_training_bundle(con)
    dims = overrides.pop("dims", None)
    variant = VARIANTS[name].with_train(**overrides)
    if dims:
        variant = dataclasses.replace(variant, dims=dataclasses.replace(variant.dims, **dims))
    validate = validator_for(variant, bundle)
    started, cpu = time.time(), time.process_time()
    result = train(
        variant, bundle, validate=validate,
        on_epoch=lambda s: print(f"  epoch {s.epoch}: loss {s.loss:.4f}, val NDCG@10 {s.val_ndcg_at_10:.4f}, "
                                 f"{s.seconds:.1f} s, alpha {s.alpha_mean}", flush=True),
    )
    full = evaluate_full(result.model, bundle.test, bundle.timeline, bundle.n_items, make_query=batch_maker(variant, bundle, "test"))
    print(f"best epoch {result.best_epoch} of {len(result.history)} (cap {result.max_epochs}, "
          f"{'stopped early' if result.stopped_early else 'hit the cap'})")
    print(f"{name} {sys.argv[3] if len(sys.argv) > 3 else ''}: full NDCG@10 per row {full.metrics['ndcg@10']:.4f}, "
          f"per user {user_mean(full.ndcg_at_10, bundle.test.user.numpy()):.4f}; "
          f"{time.time() - started:.0f} s wall, {time.process_time() - cpu:.0f} s CPU", flush=True)


if __name__ == "__main__":
    main()
