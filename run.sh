#!/usr/bin/env bash
# HybridRec entry point. Sets up .venv on first use (CPU torch pinned by constraints.txt), then:
#   ./run.sh pipeline [args]  the whole asset graph on the embedded synthetic data -> results report
#   ./run.sh test [args]      the test suite (pytest)
#   ./run.sh dev              Dagster UI on http://127.0.0.1:3000
#   ./run.sh mlflow           MLflow UI on http://127.0.0.1:5000
#   ./run.sh serve [args]     recommendation API on http://127.0.0.1:8000 (docs: /docs)
set -euo pipefail
cd "$(dirname "$0")"
install() {
  # uv (from PyPI) installs the ~180 packages in seconds where pip takes minutes. It does not read
  # pip's configuration, so pip's sources (find-links: where the CPU torch lies; indexes) and
  # constraint files are passed on; if uv cannot install, pip does it as before.
  .venv/bin/pip install -q --disable-pip-version-check uv || return 1
  local settings=() entry value
  while IFS= read -r entry; do
    for value in ${entry#*=}; do
      value=${value//\'/}
      case "${entry%%=*}" in
        *.find-links) [ -d "$value" ] && settings+=(--find-links "$value") ;;
        *.extra-index-url) [[ "$value" == http* || -d "${value#file://}" ]] && settings+=(--extra-index-url "$value") ;;
        *.index-url) [[ "$value" == http* || -d "${value#file://}" ]] && settings+=(--index-url "$value") ;;
        *.constraint) [ -f "$value" ] && settings+=(-c "$value") ;;
      esac
    done
  done < <(.venv/bin/pip config list 2>/dev/null)
  # unsafe-best-match: the best version over all indexes, as pip chooses (uv would stop at the first index)
  .venv/bin/uv pip install -q --python .venv/bin/python --index-strategy unsafe-best-match "${settings[@]}" \
    -c constraints.txt -e ".[dev]"
}
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ] || [ constraints.txt -nt .venv/.installed ]; then
  echo "Setting up .venv (first run takes a minute)..." >&2
  python3 -m venv .venv
  install || .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
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
