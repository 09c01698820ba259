"""Fixtures for handler tests: a Lambda context, a committed-data engine on a fresh database, moto's
Cognito with that database (`directory`, `world`) and an adopted Flask database (`legacy_db`).

Handlers are invoked in-process with API Gateway REST (v1 proxy) events built from the base event
`events/rest_event.json` and request bodies in `bodies/` (see support.py). Each test gets its own
freshly migrated database (the `api_env` fixture of the parent conftest points DATABASE_URL at
it, through PgBouncer with DATAAPI_TEST_POOLER=1), inserts the rows it needs and commits them for real.

Every statement the layer's connections send during the tier is recorded (`sent_statements`);
test_transaction_pooling.py, moved to the end of the tier, fails on any that would pin an RDS Proxy
connection or break under PgBouncer's transaction pooling.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from dataapi.db import engine as dbmod
from dataapi.models import Role, User
from dataapi.settings import get_settings
from devtools.pooler import Pooler
from tests.conftest import through_pooler
from tests.fixtures.legacy import adopted_for_the_layer
from tests.handler.session_support import World, make_world
from tests.handler.support import CALLER_EMAIL, CALLER_SUB, Db
from tests.support.cognito import Directory, start_directory
from tests.support.lambda_context import FakeLambdaContext
from tests.support.pinning import Recorder, recording

_legacy_names = itertools.count()
HERE = Path(__file__).parent
POOLING_TEST = "test_transaction_pooling.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The transaction-pooling check runs after every other test of this tier (it reads what they sent)."""
    last = [i for i in items if i.path.name == POOLING_TEST and i.path.parent == HERE]
    if last:
        rest = [i for i in items if i not in last]
        tier = [n for n, i in enumerate(rest) if HERE in i.path.parents]
        at = tier[-1] + 1 if tier else len(rest)
        items[:] = rest[:at] + last + rest[at:]


@pytest.fixture(scope="session")
def sent_statements() -> Iterator[Recorder]:
    """Every statement the layer's connections send from the first test of this tier on."""
    with recording() as recorder:
        yield recorder


@pytest.fixture(autouse=True)
def _recorded(request: pytest.FixtureRequest, sent_statements: Recorder) -> None:
    """Counts the tests run while recording, per module (the check knows whether the whole tier ran)."""
    sent_statements.tests[str(request.path.relative_to(HERE))] += 1


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
def legacy_db(pg, pooler: Pooler | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The Flask backend's database with legacy rows, adopted (upgraded to head); the layer uses it
    (through the pooler with DATAAPI_TEST_POOLER=1)."""
    engine = adopted_for_the_layer(pg, monkeypatch, f"legacy{next(_legacy_names)}")
    if pooler is not None:
        monkeypatch.setenv("DATABASE_URL", through_pooler(str(engine.url), pooler))
        get_settings.cache_clear()
        dbmod.dispose_engine()
    yield engine
    engine.dispose()
    dbmod.dispose_engine()
    get_settings.cache_clear()
