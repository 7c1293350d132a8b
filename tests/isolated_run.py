"""One home for the environment of a subprocess run of this checkout's code on `tiny`, with every
output (DAGSTER_HOME, warehouse, source files, artifacts, MLflow) in its own folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tiny_run_env(folder: Path, **extra: str) -> dict[str, str]:
    """os.environ without HYBRIDREC_* settings, plus this checkout on PYTHONPATH (whatever the venv's
    editable install points at), the repo's instance settings and outputs under `folder`."""
    home = folder / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")  # pools, run queue
    return {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDREC_")} | {
        "PYTHONPATH": str(REPO),
        "DAGSTER_HOME": str(home),
        "HYBRIDREC_SCALE": "tiny",
        "HYBRIDREC_SEEDS": "42",
        "HYBRIDREC_WAREHOUSE": str(folder / "hybridrec.duckdb"),
        "HYBRIDREC_SOURCE_DIR": str(folder / "source"),
        "HYBRIDREC_ARTIFACTS": str(folder / "artifacts"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlruns.db'}",
    } | extra
