"""Data-layer benchmark: every data step at synthetic scale against a bare DuckDB scan of the reviews.

    python bench/data_layer.py [--scale full] [--cache-dir bench/.cache]

Each step runs in a fresh subprocess on the same DuckDB file, so its peak RSS (from wait4) is its
own and no step profits from another's warm caches. Targets: the build steps together take at most
3x the bare scan (wall time), and no step peaks above 8 GB. The synthetic files are generated once
per (scale, seed) and cached.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

# Measure the code of this checkout, whatever an editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridrec_ml.data.sources.amazon2018 import ingest_amazon2018
from hybridrec_ml.data.synthetic.generator import generate_synthetic
from hybridrec_ml.data.transforms.context import build_context_features
from hybridrec_ml.data.transforms.interactions import build_interactions_5core
from hybridrec_ml.data.transforms.sequences import build_user_sequences
from hybridrec_ml.data.transforms.split import build_temporal_split
from hybridrec_ml.data.transforms.tfidf import build_item_tfidf
from hybridrec_ml.data.warehouse import checks
from hybridrec_ml.evaluation.negatives import draw_split_negatives, store_eval_negatives
from hybridrec_ml.tensors.bundle_loader import load_evaluation_rows

RATIO_TARGET = 3.0
RSS_TARGET_GB = 8.0
REVIEWS = "Electronics_5.json.gz"
META = "meta_Electronics.json.gz"

# The baseline: DuckDB reading the four review fields the pipeline needs, and nothing else.
_BARE_SCAN_SQL = """
SELECT count(*), count(reviewerID), count(asin), sum(overall), max(unixReviewTime)
FROM read_ndjson(?, columns = {'reviewerID': 'VARCHAR', 'asin': 'VARCHAR', 'overall': 'DOUBLE',
                               'unixReviewTime': 'BIGINT'})
"""


def _bare_scan(con: duckdb.DuckDBPyConnection, files: Path) -> dict[str, int | float | str]:
    rows, *_ = con.execute(_BARE_SCAN_SQL, [str(files / REVIEWS)]).fetchall()[0]
    return {"rows": rows}


def _eval_negatives(con: duckdb.DuckDBPyConnection, files: Path) -> dict[str, int | float | str]:
    """As the eval_negatives asset: 99 stored negatives per val/test interaction."""
    event_order, negatives = draw_split_negatives(load_evaluation_rows(con), 99, seed=2024)
    return {"rows": store_eval_negatives(con, event_order, negatives)}


def _checks(con: duckdb.DuckDBPyConnection, files: Path) -> dict[str, int | float | str]:
    outcomes = {
        "k_core": checks.check_k_core(con, 5),
        "no_time_leakage": checks.check_no_time_leakage(con),
        "indices_consistent": checks.check_indices_consistent(con),
        "sequences_causal": checks.check_sequences_causal(con),
        "context_not_constant": checks.check_context_not_constant(con),
    }
    return {name: "pass" if outcome.passed else f"FAIL ({outcome.description})" for name, outcome in outcomes.items()}


# name -> (is a build step counted in the ratio, what the step runs)
STEPS: dict[str, tuple[bool, Callable[[duckdb.DuckDBPyConnection, Path], dict[str, int | float | str]]]] = {
    "bare_scan": (False, _bare_scan),
    "ingest": (True, lambda con, files: ingest_amazon2018(con, files / REVIEWS, files / META).metadata()),
    "interactions_5core": (True, lambda con, files: build_interactions_5core(con).metadata()),
    "temporal_split": (True, lambda con, files: build_temporal_split(con).metadata()),
    "user_sequences": (True, lambda con, files: build_user_sequences(con).metadata()),
    "context_features": (True, lambda con, files: build_context_features(con).metadata()),
    "item_tfidf": (True, lambda con, files: build_item_tfidf(con).metadata()),
    "eval_negatives": (True, _eval_negatives),
    "checks": (False, _checks),
}
# Metadata worth a column in the summary table, per step.
_SHOWN = {
    "bare_scan": ("rows",),
    "ingest": ("reviews", "users", "items", "quarantined"),
    "interactions_5core": ("interactions", "users", "items", "passes"),
    "temporal_split": ("train_rows", "val_rows", "test_rows"),
    "user_sequences": ("rows", "mean_length"),
    "context_features": ("rows", "constant_features"),
    "item_tfidf": ("items_with_terms", "vocabulary", "nonzeros"),
    "eval_negatives": ("rows",),
}


def run_step(step: str, database: Path, files: Path) -> None:
    """Child process: run one step and print its timings and metadata as one JSON line."""
    con = duckdb.connect(str(database))
    wall, cpu = time.perf_counter(), time.process_time()
    metadata = STEPS[step][1](con, files)
    result = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu, "metadata": metadata}
    con.close()
    print(json.dumps(result))


def measure(step: str, database: Path, files: Path) -> dict:
    """Run `step` in a fresh interpreter; add its peak RSS as reported by the kernel."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--run-step", step, "--database", str(database), "--files", str(files)],
        stdout=subprocess.PIPE,
        text=True,
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"step {step} failed with exit status {os.waitstatus_to_exitcode(status)}")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_gb"] = usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux
    return result


def synthetic_files(scale: str, seed: int, cache_dir: Path) -> Path:
    """The folder holding the synthetic files of (scale, seed), generated on first use."""
    folder = cache_dir / f"synthetic-{scale}-seed{seed}"
    if not ((folder / REVIEWS).exists() and (folder / META).exists()):
        print(f"generating synthetic '{scale}' files into {folder} (once) ...", flush=True)
        generate_synthetic(scale, folder, seed=seed)
    return folder


def report(results: dict[str, dict]) -> str:
    lines = [
        "| step | wall s | cpu s | peak RSS GB | details |",
        "|---|---:|---:|---:|---|",
    ]
    for step, result in results.items():
        shown = ", ".join(f"{key}={result['metadata'][key]}" for key in _SHOWN.get(step, ()))
        if step == "checks":
            shown = ", ".join(f"{name}: {verdict}" for name, verdict in result["metadata"].items())
        lines.append(
            f"| {step} | {result['wall_s']:.1f} | {result['cpu_s']:.1f} | {result['peak_rss_gb']:.2f} | {shown} |"
        )
    bare = results["bare_scan"]["wall_s"]
    build = sum(result["wall_s"] for step, result in results.items() if STEPS[step][0])
    peak = max(result["peak_rss_gb"] for result in results.values())
    ratio = build / bare
    lines += [
        "",
        f"data layer (build steps) {build:.1f} s / bare scan {bare:.1f} s = {ratio:.2f}x "
        f"(target <= {RATIO_TARGET:.0f}x: {'met' if ratio <= RATIO_TARGET else 'MISSED'})",
        f"with checks: {(build + results['checks']['wall_s']) / bare:.2f}x",
        f"peak RSS {peak:.2f} GB (target <= {RSS_TARGET_GB:.0f} GB: {'met' if peak <= RSS_TARGET_GB else 'MISSED'})",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=Path(__file__).parent / ".cache")
    parser.add_argument("--run-step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_step:
        run_step(args.run_step, args.database, args.files)
        return

    files = synthetic_files(args.scale, args.seed, args.cache_dir)
    database = args.cache_dir / f"data_layer-{args.scale}.duckdb"
    for stale in (database, database.with_name(database.name + ".wal")):
        stale.unlink(missing_ok=True)
    results = {}
    for step in STEPS:
        results[step] = measure(step, database, files)
        print(f"{step}: {results[step]['wall_s']:.1f} s, {results[step]['peak_rss_gb']:.2f} GB", flush=True)
    print()
    print(report(results))


if __name__ == "__main__":
    main()
