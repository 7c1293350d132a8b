"""The README's main command, end to end on `tiny`: a real subprocess with its own DAGSTER_HOME."""

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
from dagster import DagsterInstance

from hybridrec_assets.artifacts import evaluation_path
from hybridrec_ml.evaluation.variant_evaluation import load_evaluation
from tests.isolated_run import tiny_run_env


def run_pipeline(folder: Path) -> subprocess.CompletedProcess:
    """The main command on `tiny` (v1, pop and sasrec with its dropout; one epoch, seed 42) with every output under `folder`."""
    env = tiny_run_env(folder)
    done = subprocess.run(
        [sys.executable, "-m", "hybridrec_assets.pipeline", "--variants", "v1,pop,sasrec", "--epochs", "1", "--workers", "2"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def printed_tables(out: str) -> list[str]:
    """The main table and the populations table as printed (the summary's date and commit left out)."""
    return [line for line in out.splitlines() if line.startswith("|")]


def test_pipeline_materializes_everything_and_prints_the_table_and_report(tmp_path):
    done = run_pipeline(tmp_path)
    out = done.stdout
    assert "[2/3] 3 (variant, seed) partitions on 2 workers" in out
    assert re.search(r"^\| v1 \| 1 \| 0\.\d{4} \(n=1\) \|", out, re.MULTILINE)
    assert re.search(r"^\| pop \| 1 \| 0\.\d{4} \(n=1\) \|.* — \|", out, re.MULTILINE)
    report = tmp_path / "artifacts" / "reports" / "results.html"
    assert f"Report: {report}" in out and report.stat().st_size > 1_000_000  # plotly.js inlined
    assert f"Recommendations: table `recommendations` in {tmp_path / 'hybridrec.duckdb'} " in out
    with duckdb.connect(str(tmp_path / "hybridrec.duckdb"), read_only=True) as con:
        per_partition = con.execute("SELECT variant, count(DISTINCT user_idx) FROM recommendations GROUP BY variant ORDER BY variant").fetchall()
        n_users = con.execute("SELECT count(*) FROM user_index").fetchone()[0]
    assert per_partition == [("pop", n_users), ("sasrec", n_users), ("v1", n_users)]
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        runs = instance.get_runs()
    assert len(runs) == 5 and all(run.is_success for run in runs)  # data, three partitions, report
    assert not (tmp_path / "storage").exists() and not (tmp_path / "mlruns").exists()  # nothing in the cwd

    # A second run from scratch prints the same tables to the last digit, with the same per-user values.
    again = run_pipeline(tmp_path / "again")
    assert printed_tables(again.stdout) == printed_tables(out) and len(printed_tables(out)) >= 6
    for variant in ("v1", "pop", "sasrec"):  # sasrec: dropout is seeded whichever partition a worker ran before
        first, second = (
            load_evaluation(folder / "artifacts" / Path(*evaluation_path(variant, 42))).users
            for folder in (tmp_path, tmp_path / "again")
        )
        pd.testing.assert_frame_equal(first, second, check_exact=True)
