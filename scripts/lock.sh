#!/usr/bin/env bash
# `make lock`: resolve pyproject.toml's pins (and the SAM CLI's, and checkov's) in throwaway venvs and
# write the full closures to requirements.lock, scripts/sam-requirements.lock and
# scripts/checkov-requirements.lock. Run it after changing a pin.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/python312.sh
PY312=$(find_python312)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
lock() {  # header output install-args...
  local header=$1 out=$2; shift 2
  "$PY312" -m venv "$tmp/venv" && "$tmp/venv/bin/python" -m pip install -q --upgrade pip
  "$tmp/venv/bin/python" -m pip install -q "$@"
  { echo "$header"; "$tmp/venv/bin/python" -m pip freeze --exclude dataapi; } > "$out"
  rm -rf "$tmp/venv"
}
lock "# The project venv's full closure, exact (make lock rewrites it from pyproject.toml; make setup installs it)." \
  requirements.lock ".[dev]"
lock "# The SAM CLI venv's full closure, exact (make lock rewrites it from scripts/sam-requirements.txt)." \
  scripts/sam-requirements.lock -r scripts/sam-requirements.txt
lock "$(head -1 scripts/checkov-requirements.lock)" \
  scripts/checkov-requirements.lock -r scripts/checkov-requirements.txt
rm -rf build dataapi.egg-info
