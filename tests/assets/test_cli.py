"""Both command lines load the code location: `dg` (the `[tool.dg]` project) and the `dagster` CLI the design card uses.

Each is a real subprocess from the repository root (about 12-17 s of CPU each: importing torch, MLflow and Dagster).
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"DAGSTER_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}  # this checkout's packages, not another
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_dg_check_defs_loads_the_project(tmp_path):
    done = _run([str(BIN / "dg"), "check", "defs"], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "All definitions loaded successfully." in done.stdout


def test_dagster_definitions_validate_with_the_module_of_the_design_card(tmp_path):
    done = _run([str(BIN / "dagster"), "definitions", "validate", "-m", "hybridrec_assets"], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Validation successful for code location hybridrec_assets." in done.stdout + done.stderr
