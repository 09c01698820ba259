# One command per habit. `make dev` and `make test` run the idempotent set-up first.
SHELL := /bin/bash
PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)/layers/engine:$(CURDIR)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-north-1

.PHONY: setup lock hooks dev test test-pooled test-pooled-subset load unit lint format typecheck bench migrate adopt-check token dev-admin openapi build test-build deploy migrate-aws bootstrap-admin smoke smoke-local

setup:
	@bash scripts/setup.sh

# After changing a pin in pyproject.toml or scripts/sam-requirements.txt: re-resolve both locks.
lock:
	bash scripts/lock.sh

# Run ruff, ruff-format, cfn-lint and the JSON checks before each commit.
hooks: setup
	.venv/bin/pre-commit install

dev: setup
	$(PY) -m devtools.localstack

test: setup
	$(PY) -m pytest

# The handler tier with DATABASE_URL through PgBouncer in transaction pooling mode, as through RDS Proxy.
test-pooled: setup
	DATAAPI_TEST_POOLER=1 $(PY) -m pytest tests/handler

# What .ci/run runs through the pooler (the whole tier takes 10-13 min on a 2-core machine, this about 35 s):
# parallel mixed requests from the gateway's worker processes, the front end's reads and write flows,
# creates/updates/deletes on an adopted database, and the check of every statement they send.
POOLED_SUBSET := tests/handler/test_gateway_parallel.py tests/handler/test_get_items_front_end.py \
  tests/handler/test_frontend_files.py tests/handler/test_adopted_rows.py tests/handler/test_transaction_pooling.py
test-pooled-subset: setup
	DATAAPI_TEST_POOLER=1 $(PY) -m pytest $(POOLED_SUBSET)

# 50 worker processes, the front end's mixed requests, through a pooler allowing 10 server connections, 60 s.
load: setup
	$(PY) -m devtools.load --seconds 60 --workers 50 --pool-size 10

# The fast tier: compile-only engine tests and other tests that need no database.
unit: setup
	$(PY) -m pytest tests/unit

# ruff, then the template: cfn-lint, and checkov offline (no download, no platform calls). Every checkov
# finding is fixed or skipped beside its resource in template.yaml with a one-line reason.
lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.sam-venv/bin/cfn-lint template.yaml
	BC_SKIP_MAPPING=TRUE BC_API_KEY= .checkov-venv/bin/checkov -f template.yaml --framework cloudformation \
	  --skip-download --quiet --compact

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

typecheck: setup
	.venv/bin/mypy

bench: setup
	$(PY) -m bench

migrate: setup
	$(PY) -m devtools.migrate

# What `make migrate` would do to DATABASE_URL (e.g. the Flask backend's database), changing nothing.
adopt-check: setup
	$(PY) -m devtools.adopt check

# An ID token from the running `make dev`: the demo admin's, or EMAIL= PASSWORD= of any user.
token: setup
	@$(PY) -m devtools.localstack token $(if $(EMAIL),"$(EMAIL)" "$(PASSWORD)")

# An Admin on the running `make dev` (e.g. for the adoption's dry run on a copy), as bootstrap-admin makes one.
dev-admin: setup
	@test -n "$(EMAIL)" -a -n "$(PASSWORD)" || (echo "usage: make dev-admin EMAIL=... PASSWORD=..." >&2; exit 2)
	$(PY) -m devtools.localstack admin "$(EMAIL)" "$(PASSWORD)"

openapi: setup
	$(PY) -m devtools.openapi --out openapi.json

# The deployable build; ARCH=x86_64 overrides the template's Architecture default (arm64).
build: setup
	$(PY) scripts/build.py $(if $(ARCH),--arch $(ARCH))

# A build for this machine: its handlers imported from the build alone, get_items invoked with python3.12.
test-build: setup
	$(PY) scripts/build.py --arch $$(uname -m)
	DATAAPI_BUILD_DIR=.aws-sam/build $(PY) -m pytest tests/build

# ---- a deployed stack (AWS credentials in the environment; STAGE=dev|prod) -----------------------
STAGE ?= dev

deploy: build
	.sam-venv/bin/sam deploy --config-env $(STAGE)

migrate-aws: setup
	$(PY) -m devtools.deployed migrate $(STAGE)

bootstrap-admin: setup
	@test -n "$(EMAIL)" -a -n "$(PASSWORD)" || (echo "usage: make bootstrap-admin STAGE=dev EMAIL=... PASSWORD=..." >&2; exit 2)
	$(PY) -m devtools.deployed bootstrap-admin $(STAGE) "$(EMAIL)" "$(PASSWORD)"

smoke: setup
	@test -n "$(EMAIL)" -a -n "$(PASSWORD)" || (echo "usage: make smoke STAGE=dev EMAIL=... PASSWORD=..." >&2; exit 2)
	$(PY) -m devtools.deployed smoke $(STAGE) "$(EMAIL)" "$(PASSWORD)"

smoke-local: setup
	$(PY) -m devtools.deployed smoke --local
