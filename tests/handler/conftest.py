"""Fixtures for handler tests: a Lambda context and a committed-data engine on a fresh database.

Handlers are invoked in-process with API Gateway REST (v1 proxy) events built from the base event
`events/rest_event.json` and request bodies in `bodies/` (see support.py). Each test gets its own
freshly migrated database (the `api_env` fixture of the parent conftest points DATABASE_URL at
it), inserts the rows it needs and commits them for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from dataapi.models import Role, User
from tests.handler.support import FakeLambdaContext

# The caller of the base event `events/rest_event.json` (requestContext.authorizer.claims).
CALLER_SUB = "0b6c2f5e-1d7a-4c11-9d35-3f1e2a7b9c01"
CALLER_EMAIL = "handler-tests@example.com"


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


class Db:
    """Commits ORM rows to the test's own database; the handler then reads them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, *rows: Any) -> list[Any]:
        """Insert and commit `rows`; return them with their ids loaded (usable after the session)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.add_all(rows)
        return list(rows)


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
