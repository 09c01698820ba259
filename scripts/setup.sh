#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: .venv (Python 3.12), PostgreSQL and PgBouncer binaries, the SAM CLI
# and checkov in venvs of their own.
# Each part is skipped when its stamp matches its locked inputs, so `make dev` / `make test` stay quick.
# Quiet when all is well: installer output is shown only when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/python312.sh

quietly() {  # run a step; print its output only if it fails
  local log; log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then cat "$log" >&2; rm -f "$log"; echo "setup: failed: $*" >&2; return 1; fi
  rm -f "$log"
}

# A venv with exactly the locked closure of `requirements` (the lock is checked against pyproject.toml by a test).
make_venv() {  # dir lockfile stamp
  echo "setup: creating $1 (Python 3.12, from $2)" >&2
  rm -rf "$1"
  quietly "$PY312" -m venv "$1"
  quietly "$1/bin/python" -m pip install --upgrade pip
  quietly "$1/bin/python" -m pip install -r "$2"
  echo "$3" > "$1/.stamp"
}

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
PY312=$(find_python312)

# 1. The project venv.
want=$(stamp_of pyproject.toml requirements.lock)
[ "$(cat .venv/.stamp 2>/dev/null)" = "$want" ] || make_venv .venv requirements.lock "$want"

# 2. PostgreSQL server binaries (tests and `make dev` start their own cluster).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "setup: installing PostgreSQL" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  quietly $SUDO apt-get update -qq
  quietly env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql
fi

# 2b. PgBouncer (`make test-pooled`, `make load`, DEV_POOLER=1 make dev run one in front of the cluster).
if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  echo "setup: installing PgBouncer" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  quietly $SUDO apt-get update -qq
  quietly env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq pgbouncer
fi

# 3. The SAM CLI, kept apart: it pins boto3 exactly and would drag the project venv backwards.
want_sam=$(stamp_of scripts/sam-requirements.txt scripts/sam-requirements.lock)
[ "$(cat .sam-venv/.stamp 2>/dev/null)" = "$want_sam" ] || make_venv .sam-venv scripts/sam-requirements.lock "$want_sam"

# 4. checkov (the template's security scan in `make lint`), kept apart too: it pins its own boto3 and many more.
want_checkov=$(stamp_of scripts/checkov-requirements.txt scripts/checkov-requirements.lock)
[ "$(cat .checkov-venv/.stamp 2>/dev/null)" = "$want_checkov" ] ||
  make_venv .checkov-venv scripts/checkov-requirements.lock "$want_checkov"
