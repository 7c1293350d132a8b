"""The README's main command: the whole asset graph on the configured source, partitions in parallel.

    python -m hybridrec_assets.pipeline [--workers 2] [--variants main|collapse|v1,v2,...] [--epochs N] [--diagnose]

Every step is a real Dagster run recorded in DAGSTER_HOME, so `dagster dev` shows the same
materializations, checks and metadata afterwards. Data assets run first (one writer), then every
(variant, seed) partition of train -> evaluate -> segment report -> recommendations in a pool of worker processes
(read-only DuckDB), then the results report.
"""

import argparse
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

from dagster import AssetSelection, DagsterInstance, materialize

from hybridrec_assets.definitions import defs
from hybridrec_assets.defs.serving.assets import RecommendationsConfig
from hybridrec_assets.partitions import RUN_PARTITIONS, variant_and_seed
from hybridrec_ml.config import VARIANT_GROUPS, select_variants
from hybridrec_ml.serving.recommendations import RECOMMENDATIONS

ALL_ASSETS = list(defs.assets)
# Dagster's per-event DEBUG lines (hundreds per partition) stay in the instance for the UI; the
# terminal gets the assets' own INFO messages and this script's progress.
CONSOLE_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _run(selection: AssetSelection, partition_key: str | None = None, run_config: dict | None = None) -> None:
    result = materialize(
        ALL_ASSETS,
        selection=selection,
        partition_key=partition_key,
        instance=DagsterInstance.get(),
        resources=defs.resources,
        run_config=CONSOLE_LOGS | (run_config or {}),
        raise_on_error=False,
    )
    if not result.success:
        causes = "\n".join(e.step_failure_data.error.to_string() for e in result.get_step_failure_events())
        raise RuntimeError(f"run {result.run_id} failed ({partition_key or 'unpartitioned'}):\n{causes}")


def _run_partition(partition_key: str, training_overrides: dict, groups: tuple[str, ...]) -> str:
    _run(AssetSelection.groups(*groups), partition_key, {"ops": {"trained_model": {"config": training_overrides}}})
    return partition_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="partitions trained at once")
    parser.add_argument(
        "--variants", default="main",
        help=f"comma-separated variants or groups ({', '.join(VARIANT_GROUPS)}; default: main, config.MAIN_VARIANTS)",
    )  # fmt: skip
    parser.add_argument("--epochs", type=int, default=None, help="override every variant's epochs")
    parser.add_argument(
        "--diagnose", action="store_true",
        help="also diagnose each partition's gate and write the 'Why does the gate collapse?' report",
    )  # fmt: skip
    args = parser.parse_args(argv)

    wanted = set(select_variants(args.variants))
    keys = [key for key in RUN_PARTITIONS.get_partition_keys() if variant_and_seed(key)[0] in wanted]
    groups = ("model", "evaluation", "serving", "diagnosis") if args.diagnose else ("model", "evaluation", "serving")
    overrides = {"torch_threads": max(1, (os.cpu_count() or 1) // args.workers)}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs

    print("[1/3] data assets", flush=True)
    _run(AssetSelection.groups("data"))
    print(f"[2/3] {len(keys)} (variant, seed) partitions on {args.workers} workers", flush=True)
    # spawn, not fork: the data step ran torch's OpenMP pool in this process, and a forked child
    # that enters an OpenMP region waits forever on the parent's threads (seen on a MovieLens folder)
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_run_partition, key, overrides, groups) for key in keys]
        for done, future in enumerate(as_completed(futures), start=1):
            print(f"      {done}/{len(keys)} {future.result()}", flush=True)
    print("[3/3] results report" + (" and collapse report" if args.diagnose else ""), flush=True)
    _run(AssetSelection.groups("report", "collapse_report") if args.diagnose else AssetSelection.groups("report"))

    instance = DagsterInstance.get()
    event = instance.get_latest_materialization_event(defs.get_assets_def("results_report").key)
    metadata = event.asset_materialization.metadata
    print("\n" + metadata["summary"].value + "\n")
    print(metadata["main_table"].value + "\n")
    print(metadata["populations"].value + "\n")
    print(f"Report: {metadata['report'].value}")
    print(f"Recommendations: table `{RECOMMENDATIONS}` in {os.path.abspath(defs.resources['warehouse'].database)} "
          f"(top-{RecommendationsConfig().k} per user, one set of rows per variant and seed; serve one: ./run.sh serve)")
    if args.diagnose:
        collapse = instance.get_latest_materialization_event(defs.get_assets_def("collapse_report").key)
        print(f"Why does the gate collapse?\n{collapse.asset_materialization.metadata['verdict'].value}")
        print(f"Collapse report: {collapse.asset_materialization.metadata['report'].value}")
    print(f"Artifacts: {os.path.abspath(defs.resources['store'].root)}")
    print("Browse: ./run.sh dev  (Dagster UI)   ./run.sh mlflow  (MLflow UI)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
