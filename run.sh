#!/usr/bin/env bash
# HybridRec entry point. Sets up .venv on first use (CPU torch pinned by constraints.txt), then:
#   ./run.sh pipeline [args]  the whole asset graph on the embedded synthetic data -> results report
#   ./run.sh test [args]      the test suite (pytest)
#   ./run.sh dev              Dagster UI on http://127.0.0.1:3000
#   ./run.sh mlflow           MLflow UI on http://127.0.0.1:5000
#   ./run.sh serve [args]     recommendation API on http://127.0.0.1:8000 (docs: /docs)
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ] || [ constraints.txt -nt .venv/.installed ]; then
  echo "Setting up .venv (first run takes a few minutes)..." >&2
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
  touch .venv/.installed
fi
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/dagster_home}"
command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  pipeline) exec .venv/bin/python -m hybridrec_assets.pipeline "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
  dev) exec .venv/bin/dagster dev -h 127.0.0.1 -p 3000 "$@" ;;
  serve) exec .venv/bin/python -m hybridrec_assets.serve "$@" ;;
  mlflow) exec .venv/bin/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri "${MLFLOW_TRACKING_URI:-sqlite:///mlruns.db}" "$@" ;;
  *) sed -n '2,7p' "$0"; exit 2 ;;
esac
