"""What flooring timestamps to the day (Amazon 2018 style) does to the order and the context.

    python bench/day_granular_confound.py [--scale demo] [--mixture contrast]

On the day-granular synthetic world, for the evaluated (val + test) rows: how often the last item of
the stored history is the true previous item (within a day the stored order is by item id, not by
time), and how often the context bucket computed from the stored features is the true one. Also the
oracle's full-ranking NDCG@10 (it uses the true times) next to the same world with true timestamps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ceiling_diagnosis import warehouse  # noqa: E402

from hybridrec_ml.tensors.bundle_loader import load_training_bundle  # noqa: E402
from hybridrec_ml.data.transforms.context_buckets import bucket_of_context  # noqa: E402
from hybridrec_ml.data.synthetic.truth import load_planted_truth  # noqa: E402
from hybridrec_ml.evaluation.protocols import evaluate_full  # noqa: E402
from hybridrec_ml.models.oracle import PlantedOracle, _last_history_item  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--mixture", default="contrast")
    parser.add_argument("--cache-dir", type=Path, default=Path(__file__).parent / ".cache")
    args = parser.parse_args()
    for day_granular in (False, True):
        database = warehouse(args.scale, args.mixture, args.cache_dir, day_granular=day_granular)
        with duckdb.connect(str(database), read_only=True) as con:
            bundle = load_training_bundle(con)
            truth = load_planted_truth(con)
        oracle = PlantedOracle(truth, (bundle.train, bundle.val, bundle.test), bundle.n_items)
        same_previous, same_bucket, rows = 0, 0, 0
        for split in (bundle.val, bundle.test):
            last = _last_history_item(split)
            key = oracle._key(split.user.numpy(), last)
            row = oracle.key_order[np.searchsorted(oracle.sorted_key, key)]
            stored_previous = np.where(last >= 0, truth.item_of_index[np.maximum(last, 0)], -1)
            same_previous += int((stored_previous == oracle.row_previous[row]).sum())
            same_bucket += int((bucket_of_context(split.context) == oracle.true_buckets(split)).sum())
            rows += len(split)
        ndcg = evaluate_full(oracle, bundle.test, bundle.timeline, bundle.n_items).metrics["ndcg@10"]
        label = "day-granular" if day_granular else "true times  "
        print(f"{args.scale} {label}: {rows} val+test rows; last history item = true previous item "
              f"{100 * same_previous / rows:.1f}%; stored-context bucket = true bucket {100 * same_bucket / rows:.1f}%; "
              f"oracle NDCG@10 {ndcg:.4f}")


if __name__ == "__main__":
    main()
