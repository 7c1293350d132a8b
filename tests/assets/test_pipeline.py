"""The README's main command, end to end on `tiny`: a real subprocess with its own DAGSTER_HOME."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
from dagster import DagsterInstance

REPO = Path(__file__).resolve().parents[2]


def test_pipeline_materializes_everything_and_prints_the_table_and_report(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "HYBRIDREC_SCALE": "tiny",
        "HYBRIDREC_SEEDS": "42",
        "HYBRIDREC_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "HYBRIDREC_ARTIFACTS": str(tmp_path / "artifacts"),
        "HYBRIDREC_SOURCE_DIR": str(tmp_path / "source"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}",
    }

    done = subprocess.run(
        [sys.executable, "-m", "hybridrec_assets.pipeline", "--variants", "v1,pop", "--epochs", "1", "--workers", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "[2/3] 2 (variant, seed) partitions on 2 workers" in out
    assert re.search(r"^\| v1 \| 1 \| 0\.\d{4} \(n=1\) \|", out, re.MULTILINE)
    assert re.search(r"^\| pop \| 1 \| 0\.\d{4} \(n=1\) \|.* — \|", out, re.MULTILINE)
    report = tmp_path / "artifacts" / "reports" / "results.html"
    assert f"Report: {report}" in out and report.stat().st_size > 1_000_000  # plotly.js inlined
    assert f"Recommendations: table `recommendations` in {tmp_path / 'warehouse.duckdb'} " in out
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        per_partition = con.execute("SELECT variant, count(DISTINCT user_idx) FROM recommendations GROUP BY variant ORDER BY variant").fetchall()
        n_users = con.execute("SELECT count(*) FROM user_index").fetchone()[0]
    assert per_partition == [("pop", n_users), ("v1", n_users)]
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
    assert len(runs) == 4 and all(run.is_success for run in runs)  # data, two partitions, report
    assert not (tmp_path / "storage").exists() and not (tmp_path / "mlruns").exists()  # nothing in the cwd
