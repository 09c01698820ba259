# One command per habit. `make dev` and `make test` run the idempotent set-up first.
SHELL := /bin/bash
PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)/layers/engine:$(CURDIR)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-north-1

.PHONY: setup dev test lint format typecheck bench migrate token openapi

setup:
	@bash scripts/setup.sh

dev: setup
	$(PY) -m devtools.localstack

test: setup
	$(PY) -m pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

typecheck: setup
	.venv/bin/mypy

bench: setup
	$(PY) -m bench

migrate: setup
	$(PY) -m devtools.migrate

token: setup
	@$(PY) -m devtools.localstack token

openapi: setup
	$(PY) -m devtools.openapi --out openapi.json
