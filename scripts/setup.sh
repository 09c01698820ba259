#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: .venv (Python 3.12), PostgreSQL binaries, the SAM CLI in its own venv.
# Each part is skipped when its stamp matches the pinned inputs, so `make dev` / `make test` stay quick.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python312() {
  local c
  for c in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  echo "setup: Python 3.12 not found (install it, e.g. with pyenv)" >&2; return 1
}

PY312=$(find_python312)
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# 1. The project venv.
want=$(stamp_of pyproject.toml)
if [ "$(cat .venv/.stamp 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv with $PY312" >&2
  "$PY312" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q ".[dev]"
  echo "$want" > .venv/.stamp
fi

# 2. PostgreSQL server binaries (tests and `make dev` start their own cluster).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "setup: installing PostgreSQL" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi

# 3. The SAM CLI, kept apart: it pins boto3 exactly and would drag the project venv backwards.
want_sam=$(stamp_of scripts/sam-requirements.txt)
if [ "$(cat .sam-venv/.stamp 2>/dev/null)" != "$want_sam" ]; then
  echo "setup: creating .sam-venv (SAM CLI)" >&2
  "$PY312" -m venv .sam-venv
  .sam-venv/bin/python -m pip install -q --upgrade pip
  .sam-venv/bin/python -m pip install -q -r scripts/sam-requirements.txt
  echo "$want_sam" > .sam-venv/.stamp
fi
