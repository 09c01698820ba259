"""Fixtures for handler tests: a Lambda context, a committed-data engine on a fresh database, moto's
Cognito with that database (`directory`, `world`) and an adopted Flask database (`legacy_db`).

Handlers are invoked in-process with API Gateway REST (v1 proxy) events built from the base event
`events/rest_event.json` and request bodies in `bodies/` (see support.py). Each test gets its own
freshly migrated database (the `api_env` fixture of the parent conftest points DATABASE_URL at
it), inserts the rows it needs and commits them for real.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from dataapi.db import engine as dbmod
from dataapi.models import Role, User
from dataapi.settings import get_settings
from tests.fixtures.legacy import adopted_for_the_layer
from tests.handler.session_support import World, make_world
from tests.handler.support import CALLER_EMAIL, CALLER_SUB, Db
from tests.support.cognito import Directory, start_directory
from tests.support.lambda_context import FakeLambdaContext

_legacy_names = itertools.count()


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def db(api_env: str) -> Iterator[Db]:
    """A fresh migrated database with the caller of the base event as an Admin user."""
    engine = create_engine(api_env)
    helper = Db(engine)
    admin = Role(role="Admin", key="admin")
    helper.add(
        User(
            username="handler-tests",
            email=CALLER_EMAIL,
            phone="+46 70 000 00 00",
            cognito_sub=CALLER_SUB,
            roles=[admin],
        )
    )
    yield helper
    engine.dispose()


@pytest.fixture
def directory(api_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Directory]:
    """moto's Cognito, the layer pointed at it and at the test's fresh database."""
    with start_directory(monkeypatch) as d:
        yield d


@pytest.fixture
def world(db: Db, directory: Directory) -> World:
    return make_world(db, directory)


@pytest.fixture
def legacy_db(pg, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The Flask backend's database with legacy rows, adopted (upgraded to head); the layer uses it."""
    engine = adopted_for_the_layer(pg, monkeypatch, f"legacy{next(_legacy_names)}")
    yield engine
    engine.dispose()
    dbmod.dispose_engine()
    get_settings.cache_clear()
