"""PgBouncer in transaction pooling mode (devtools/pooler.py) in front of the test cluster, as RDS
Proxy is in front of the database: the layer works through it, and many containers' mixed requests
over few server connections get no error (`make load` is the long run of the same machinery).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from dataapi.db import engine as dbmod
from dataapi.db import wire
from dataapi.settings import get_settings
from devtools import load, pooler
from devtools.pgcluster import Cluster

pytestmark = pytest.mark.db


@pytest.fixture
def one_connection(pg: Cluster) -> Iterator[pooler.Pooler]:
    """A pooler allowing one server connection per database."""
    started = pooler.Pooler.start(pg.port, pool_size=1)
    yield started
    started.stop(remove=True)


def test_the_pooler_multiplexes_the_layers_connections_in_transaction_mode(
    pg: Cluster, one_connection: pooler.Pooler
) -> None:
    """GIVEN a database created after the pooler started and two engines of the layer's driver
    (unnamed prepared statements, BEGIN sent with the first statement) WHEN their transactions
    interleave over the pooler's one server connection THEN each gets its own answers, and session
    state set by one leaks to the other: why no statement may set it (test_transaction_pooling.py)."""
    pg.sql('CREATE DATABASE "pooled"')
    engines = [create_engine(one_connection.url("pooled"), pool_size=1, max_overflow=0) for _ in range(2)]
    for engine in engines:
        wire.install(engine)
    try:
        conns = [engine.connect() for engine in engines]
        backends = set()
        for i in range(20):
            for n, conn in enumerate(conns):
                with conn.begin():
                    got = conn.execute(
                        text("SELECT CAST(:a AS int) + CAST(:b AS int), pg_backend_pid()"), {"a": i, "b": n}
                    ).one()
                    assert got[0] == i + n
                    backends.add(got[1])
        assert len(backends) == 1, "one server connection served both clients"
        with conns[0].begin():
            conns[0].execute(text("SET application_name = 'leaked'"))  # session state: never in the layer
        with conns[1].begin():
            assert conns[1].execute(text("SHOW application_name")).scalar() == "leaked"
            conns[1].execute(text("RESET application_name"))
        for conn in conns:
            conn.close()
    finally:
        for engine in engines:
            engine.dispose()


def test_dev_pooler_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pooler.DEV_ENV, raising=False)
    assert pooler.dev_pool_size() is None
    monkeypatch.setenv(pooler.DEV_ENV, "0")
    assert pooler.dev_pool_size() is None
    monkeypatch.setenv(pooler.DEV_ENV, "1")
    assert pooler.dev_pool_size() == pooler.DEV_POOL_SIZE == 10
    monkeypatch.setenv(pooler.DEV_SIZE_ENV, "3")
    assert pooler.dev_pool_size() == 3


def test_thirty_containers_over_five_server_connections_get_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trial by hand that `make load` grew from, kept: 30 processes, each a container calling the
    handlers in-process with the front end's mixed reads and writes, through PgBouncer allowing 5
    server connections; every answer is the route's success status, and PostgreSQL never saw more
    than 5 connections."""
    for name in ("DATABASE_URL", "COGNITO_USER_POOL_ID", "FILES_BUCKET", "AWS_ENDPOINT_URL", "LOG_LEVEL"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # given back afterwards: the run sets them
    try:
        outcome = load.run(seconds=12, workers=30, pool_size=5)
    finally:
        get_settings.cache_clear()
        dbmod.dispose_engine()
    report = outcome.report()
    assert outcome.ok, report
    assert not outcome.errors and outcome.server_errors == 0, report
    assert 1 <= outcome.peak <= 5, report
    assert {kind for kind, _, _ in outcome.results} == set(load.Mix.WEIGHTS), report
    assert len(outcome.results) >= 200, report
