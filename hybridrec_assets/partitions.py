"""Model assets are partitioned by (variant, seed): each pair is one training run, visible in the UI."""

from __future__ import annotations

import os

from dagster import MultiPartitionKey, MultiPartitionsDefinition, StaticPartitionsDefinition

from hybridrec_ml.config import VARIANTS

DEFAULT_SEEDS = "42,43,44"


def seeds_from_env() -> list[str]:
    """Seeds come from HYBRIDREC_SEEDS (comma-separated integers); three by default."""
    raw = os.environ.get("HYBRIDREC_SEEDS", DEFAULT_SEEDS)
    seeds = [s.strip() for s in raw.split(",") if s.strip()]
    if not seeds or not all(s.isdigit() for s in seeds):
        raise ValueError(f"HYBRIDREC_SEEDS must be comma-separated non-negative integers, got {raw!r}")
    return seeds


VARIANT_PARTITIONS = StaticPartitionsDefinition(list(VARIANTS))
RUN_PARTITIONS = MultiPartitionsDefinition(
    {"variant": VARIANT_PARTITIONS, "seed": StaticPartitionsDefinition(seeds_from_env())}
)


def variant_and_seed(partition_key: str | MultiPartitionKey) -> tuple[str, int]:
    key = partition_key if isinstance(partition_key, MultiPartitionKey) else None
    if key is None:
        dims = dict(zip(("seed", "variant"), str(partition_key).split("|")))
    else:
        dims = key.keys_by_dimension
    return dims["variant"], int(dims["seed"])


def run_partition_key(variant: str, seed: int) -> MultiPartitionKey:
    return MultiPartitionKey({"variant": variant, "seed": str(seed)})
