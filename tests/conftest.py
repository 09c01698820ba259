"""Test tiers share one PostgreSQL cluster, started by the test session itself.

- `migrated_db`: a database migrated with Alembic once per session, used as a template.
- `fresh_db`: a new database cloned from it (CREATE DATABASE ... TEMPLATE), for tests that commit.
- `db_session`: a session on the seeded database inside a transaction that is rolled back.
- `api_env`: DATABASE_URL (the layer's) on a fresh database: directly, or with
  DATAAPI_TEST_POOLER=1 (`make test-pooled`) through PgBouncer in transaction pooling mode, one
  pooler per session in front of the cluster (`pooler`), as RDS Proxy is in front of the database.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from dataapi.db import engine as dbmod
from dataapi.db import wire
from dataapi.settings import get_settings
from devtools.migrate import upgrade
from devtools.pgcluster import Cluster
from devtools.pooler import Pooler, version

_counter = itertools.count()

POOLER_ENV = "DATAAPI_TEST_POOLER"
POOLER_SIZE = 5
"""Server connections per database through the test pooler: few, as behind RDS Proxy."""


def pooler_wanted() -> bool:
    return os.environ.get(POOLER_ENV, "").strip() not in ("", "0")


def pytest_report_header(config: pytest.Config) -> str | None:
    if not pooler_wanted():
        return None
    return f"DATABASE_URL through {version()}: pool_mode = transaction, {POOLER_SIZE} server connections per database"


@pytest.fixture(scope="session")
def pg() -> Iterator[Cluster]:
    cluster = Cluster.create()
    yield cluster
    cluster.stop(remove=True)


@pytest.fixture(scope="session")
def migrated_db(pg: Cluster) -> str:
    pg.sql("CREATE DATABASE dataapi_template")
    url = pg.url("dataapi_template")
    upgrade(url)
    create_engine(url).dispose()
    return url


def clone_database(pg: Cluster, source: str = "dataapi_template") -> str:
    name = f"t{next(_counter)}"
    pg.sql(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    return pg.url(name)


@pytest.fixture
def fresh_db(pg: Cluster, migrated_db: str) -> str:
    return clone_database(pg)


@pytest.fixture(scope="session")
def pooler(pg: Cluster) -> Iterator[Pooler | None]:
    """PgBouncer in transaction pooling mode in front of the cluster (any of its databases) when
    DATAAPI_TEST_POOLER=1; None otherwise."""
    if not pooler_wanted():
        yield None
        return
    started = Pooler.start(pg.port, pool_size=POOLER_SIZE)
    yield started
    started.stop(remove=True)


def through_pooler(url: str, pooler: Pooler | None) -> str:
    """A database URL of the cluster, through the pooler when there is one."""
    return url if pooler is None else pooler.url(url.rsplit("/", 1)[1])


@pytest.fixture
def api_env(fresh_db: str, pooler: Pooler | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the layer's settings and engine at a fresh database, as DATABASE_URL would (through
    the pooler with DATAAPI_TEST_POOLER=1: the tests' own engines on `api_env` then use it too)."""
    url = through_pooler(fresh_db, pooler)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    dbmod.dispose_engine()
    yield url
    dbmod.dispose_engine()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def seeded_engine(pg: Cluster, migrated_db: str) -> Iterator[Engine]:
    from tests.fixtures.seed import seed

    url = clone_database(pg)
    engine = create_engine(url)
    wire.install(engine)  # the driver the layer's engine uses: reads run on its DB-API connection
    with Session(engine) as session, session.begin():
        seed(session)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(seeded_engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, even if the code under test commits."""
    with seeded_engine.connect() as conn:
        trans = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            trans.rollback()
