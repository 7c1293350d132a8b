"""Every command in the README's bash blocks runs as written on `tiny`, or is listed below with why not.

The Dagster CLI lines (`dagster ...`, `dg ...`) run in a subprocess through a shell, from the
repository root, with the venv's bin first on PATH (as after `source .venv/bin/activate`), this
checkout on PYTHONPATH, and every output (DAGSTER_HOME, warehouse, source files, artifacts, MLflow)
in a temporary folder. They run in README order, so each finds what the lines before it made.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.isolated_run import tiny_run_env

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUN = ("dagster ", "dg ")

# Commands not run here, by how they start, and why; every README command is run or matched here.
NOT_RUN = {
    "./run.sh pipeline": "long; tests/assets/test_pipeline.py runs it on a fresh copy (tiny) and compares two runs",
    "./run.sh test": "the test suite itself",
    "./run.sh dev": "interactive UI server; the same Definitions load in `dg check defs` / `dagster definitions validate` below",
    "./run.sh mlflow": "MLflow's own UI server, nothing of ours beyond the tracking URI",
    "./run.sh serve": "long-running HTTP server; tests/assets/test_serve.py starts it on 127.0.0.1 and probes it",
    "dg dev": "interactive UI server, like ./run.sh dev",
    "curl ": "needs ./run.sh serve running; tests/assets/test_serve.py sends the same request",
    "HYBRIDREC_SOURCE=movielens": "needs the user's ML-1M folder; tests/assets/test_real_data.py runs it on a generated one",
    "HYBRIDREC_SOURCE=amazon2018": "needs the user's Amazon files or URLs; the readers and downloads have their own tests",
    "python bench/": "a benchmark on the `full` warehouse (hours), not a usage command",
    "kubectl ": "needs a cluster; tests/deploy/ checks the profile without one",
    "optuna-dashboard ": "interactive server; tests/ml/tuning/test_dashboard.py serves a study's sqlite storage on 127.0.0.1",
}


def readme_commands() -> list[str]:
    """The commands of the README's ```bash blocks: continuations joined, comments and blank lines dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for command in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", command).strip()
            if command and not command.startswith("#"):
                commands.append(re.sub(r"\s+", " ", command))
    return commands


def commands_to_run() -> list[str]:
    return [c for c in readme_commands() if c.startswith(RUN) and not any(c.startswith(k) for k in NOT_RUN)]


def test_every_readme_command_is_run_or_has_a_reason():
    commands = readme_commands()
    unclassified = [c for c in commands if not c.startswith(RUN) and not any(c.startswith(k) for k in NOT_RUN)]
    assert unclassified == []
    unused = [key for key in NOT_RUN if not any(c.startswith(key) for c in commands)]
    assert unused == []  # a reason for a command the README no longer shows
    assert len(commands_to_run()) == 11  # 7 dagster, 4 dg lines


def test_the_readme_dagster_commands_run_as_written_on_tiny(tmp_path):
    env = tiny_run_env(tmp_path, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for command in commands_to_run():
        done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert (tmp_path / "artifacts" / "reports" / "results.html").exists()
