"""`./run.sh serve`: the HTTP recommendation service for one trained (variant, seed) partition.

    python -m hybridrec_assets.serve [--host 127.0.0.1] [--port 8000] [--partition 42|v1]

It reads the same warehouse and artifacts folder as the assets (HYBRIDREC_WAREHOUSE,
HYBRIDREC_ARTIFACTS), caches vectors in Redis when HYBRIDREC_REDIS_URL is set, and swaps in a new
checkpoint of its partition when one is materialized.
"""

import argparse
import os
import sys
from pathlib import Path

import torch
import uvicorn

from hybridrec_assets.artifacts import model_path
from hybridrec_assets.definitions import default_resources
from hybridrec_assets.partitions import run_partition_key, seeds_from_env, variant_and_seed
from hybridrec_ml.config import VARIANTS
from hybridrec_ml.serving.app import create_app
from hybridrec_ml.serving.cache import cache_from_url
from hybridrec_ml.serving.service import RecommendationService, file_signature, load_served_model


def _checkpoint(root: str, partition: str) -> Path:
    variant, seed = variant_and_seed(partition)
    return Path(root).resolve().joinpath(*model_path(variant, seed))


def _default_partition(root: str) -> str | None:
    """The first trained partition, seeds in HYBRIDREC_SEEDS order, variants in registry order (42|v1 first)."""
    keys = (str(run_partition_key(variant, int(seed))) for seed in seeds_from_env() for variant in VARIANTS)
    return next((key for key in keys if _checkpoint(root, key).exists()), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HYBRIDREC_SERVE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HYBRIDREC_SERVE_PORT", "8000")))
    parser.add_argument("--partition", default=os.environ.get("HYBRIDREC_SERVE_PARTITION"),
                        help="seed|variant, e.g. 42|v1 (default: the first trained one)")
    parser.add_argument("--reload-interval", type=float, default=2.0, help="seconds between checkpoint checks (0: off)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per request (concurrent requests run on their own threads; see README)")
    args = parser.parse_args(argv)

    resources = default_resources()
    store, warehouse = resources["store"], resources["warehouse"]
    partition = args.partition or _default_partition(store.root)
    if partition is None:
        print(f"No trained model under {Path(store.root).resolve()}/models: run ./run.sh pipeline first", file=sys.stderr)
        return 2
    checkpoint = _checkpoint(store.root, partition)
    if not checkpoint.exists():
        print(f"{checkpoint} does not exist: materialize trained_model for partition {partition} first", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    cache = cache_from_url(os.environ.get("HYBRIDREC_REDIS_URL"))
    service = RecommendationService(
        lambda: load_served_model(checkpoint, warehouse.reader, cache), lambda: file_signature(checkpoint), cache
    )
    print(f"Serving partition {partition} ({checkpoint}, version {service.current.info.version}, "
          f"{cache.kind} cache) on http://{args.host}:{args.port}  (docs: /docs)", flush=True)
    uvicorn.run(create_app(service, args.reload_interval or None), host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
