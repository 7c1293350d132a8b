"""How long loading the code location takes, against loading Dagster alone, each in fresh processes.

    python bench/definitions_load.py [--repeats 5]

Every Dagster step subprocess, `dagster` CLI call and code-server start imports
`hybridrec_assets.definitions`, so its cost is paid per step. Target: ≤ 2 s. The reference is
`import dagster` measured in the same run (the floor no code location can go under); the figures
are the median wall time of `--repeats` fresh interpreters. It also lists which heavy modules
(torch, mlflow, ...) the load pulled in: none should be.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "mlflow", "sklearn", "scipy", "plotly", "pandas", "fastapi", "uvicorn")
TARGET_SECONDS = 2.0

_TIMED = """
import json, sys, time
started = time.perf_counter()
import {module}
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def timed_import(module: str) -> dict:
    """Import `module` in a fresh interpreter run from this checkout; its wall time and heavy modules."""
    code = _TIMED.format(module=module, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    figures = {}
    for module in ("dagster", "hybridrec_assets.definitions"):
        runs = [timed_import(module) for _ in range(args.repeats)]
        figures[module] = statistics.median(run["seconds"] for run in runs)
        print(f"{module:32s} median {figures[module]:.2f} s over {args.repeats} fresh processes "
              f"(min {min(r['seconds'] for r in runs):.2f}, max {max(r['seconds'] for r in runs):.2f}); "
              f"heavy modules loaded: {', '.join(runs[0]['heavy']) or 'none'}")
    own = figures["hybridrec_assets.definitions"]
    print(f"definitions / dagster alone: {own / figures['dagster']:.2f}x; the code location adds {own - figures['dagster']:.2f} s")
    print(f"target <= {TARGET_SECONDS:.0f} s: {'met' if own <= TARGET_SECONDS else 'missed'} ({own:.2f} s)")


if __name__ == "__main__":
    main()
