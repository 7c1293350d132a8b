"""The data group from the Dagster CLI against the same steps in the main command, on fresh folders.

    python bench/data_group_cli.py [--scale demo]

`./run.sh pipeline` materializes the data group in its own process ([1/3]); a user of the CLI runs
`dagster asset materialize -m hybridrec_assets --select 'group:data'`. Each side runs in a fresh
process on its own empty warehouse, source folder and DAGSTER_HOME (so both generate the synthetic
files). Wall times include the interpreter start and the definitions load; target: CLI ≤ 2× the
pipeline's time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).with_name("dagster")
TARGET_RATIO = 2.0

_PIPELINE_STEP = """
from dagster import AssetSelection
from hybridrec_assets import pipeline
pipeline._run(AssetSelection.groups("data"))
"""


def isolated_env(folder: Path, scale: str) -> dict[str, str]:
    """This checkout's code, and every output (warehouse, source files, artifacts, runs) under `folder`."""
    (folder / "dagster_home").mkdir(parents=True)
    return os.environ | {
        "PYTHONPATH": str(ROOT),
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "HYBRIDREC_SCALE": scale,
        "HYBRIDREC_WAREHOUSE": str(folder / "hybridrec.duckdb"),
        "HYBRIDREC_SOURCE_DIR": str(folder / "source"),
        "HYBRIDREC_ARTIFACTS": str(folder / "artifacts"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlruns.db'}",
    }


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="demo", choices=("tiny", "demo", "full"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        in_pipeline = timed([sys.executable, "-c", _PIPELINE_STEP], isolated_env(Path(tmp, "pipeline"), args.scale))
        cli = timed(
            [str(DAGSTER), "asset", "materialize", "-m", "hybridrec_assets", "--select", "group:data"],
            isolated_env(Path(tmp, "cli"), args.scale),
        )
    print(f"scale {args.scale}: data group in the main command's process {in_pipeline:.1f} s; "
          f"`dagster asset materialize --select 'group:data'` {cli:.1f} s")
    print(f"CLI / pipeline: {cli / in_pipeline:.2f}x (target <= {TARGET_RATIO:.0f}x: "
          f"{'met' if cli <= TARGET_RATIO * in_pipeline else 'missed'})")


if __name__ == "__main__":
    main()
