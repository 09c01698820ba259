"""Test tiers share one PostgreSQL cluster, started by the test session itself.

- `migrated_db`: a database migrated with Alembic once per session, used as a template.
- `fresh_db`: a new database cloned from it (CREATE DATABASE ... TEMPLATE), for tests that commit.
- `db_session`: a session on the seeded database inside a transaction that is rolled back.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from dataapi.db import engine as dbmod
from dataapi.db import wire
from dataapi.settings import get_settings
from devtools.migrate import upgrade
from devtools.pgcluster import Cluster

_counter = itertools.count()


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


@pytest.fixture
def api_env(fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the layer's settings and engine at a fresh database, as DATABASE_URL would."""
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    get_settings.cache_clear()
    dbmod.dispose_engine()
    yield fresh_db
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
