"""A failure while a connection is in use never poisons the pool; a silent database is a 503.

The driver failing half-way through sending a message (a lone surrogate or more than 65,535
parameters reaching pg8000) leaves its connection out of protocol sync. Such a connection is
invalidated, never pooled again, so the next request gets a fresh one and correct results.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from dataapi.db import engine as dbmod
from dataapi.db import wire
from dataapi.settings import get_settings
from tests.adversarial.support import ALL_ITEMS, World, call, read_ids


def _backend_pid() -> int:
    with dbmod.transaction() as session:
        return session.execute(text("SELECT pg_backend_pid()")).scalar_one()


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        ("SELECT CAST(:v AS text)", {"v": "\ud800"}),  # the driver cannot encode it mid-message
        ("SELECT 1 WHERE 1 IN :ids", {"ids": tuple(range(70_000))}),  # over the protocol's 65,535
    ],
)
def test_a_mid_send_driver_failure_invalidates_the_connection(
    world: World, statement: str, params: dict[str, object]
) -> None:
    """GIVEN a pooled connection WHEN the driver fails while sending a statement on it THEN that
    connection is discarded: the next transaction runs on another backend and answers correctly."""
    from sqlalchemy import bindparam

    before = _backend_pid()
    stmt = text(statement)
    if "ids" in params:
        stmt = stmt.bindparams(bindparam("ids", expanding=True))
    with pytest.raises(Exception), dbmod.transaction() as session:  # noqa: B017 - any driver failure
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() == before
        session.execute(stmt, params)
    assert _backend_pid() != before
    with dbmod.transaction() as session:
        assert session.execute(text("SELECT 41 + 1")).scalar_one() == 42
        rows = session.execute(text('SELECT id FROM "Item" ORDER BY id DESC')).scalars().all()
    assert rows == ALL_ITEMS
    assert read_ids(filters={"article_number": "2511-001"}) == [1]


def _terminate(pid: int) -> None:
    """End a backend as a restart or a failover does, and wait (at most 5 s) until it is gone."""
    admin = create_engine(get_settings().database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
        for _ in range(500):  # each poll its own transaction: pg_stat_activity is a snapshot within one
            if not conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
            ).scalar():
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"backend {pid} still there")
    admin.dispose()


WRITES = {
    "create_items": {"model_name": "Dealer", "object_values": {"dealer_name": "after a failover"}},
    "update_items": {"model_name": "Item", "query_filters": {"id": 1}, "update_type": "first_match",
                     "object_values": {"location": "after a failover"}},
    "delete_items": {"model_name": "Dealer", "object_values": {"query_filters": {"dealer_name": "after a failover"},
                                                               "deletion_type": "delete_first"}},
}  # fmt: skip


@pytest.mark.parametrize("route", ["get_items", "me", *WRITES])
def test_the_first_request_after_the_idle_backend_died_is_served(world: World, route: str) -> None:
    """GIVEN a warm container whose pooled connection's backend the server terminated while it sat
    idle (a restart, a failover, a proxy's idle timeout) WHEN the next request comes, on any route
    THEN it is answered as if nothing happened: the dead connection is replaced at checkout."""
    assert read_ids() == ALL_ITEMS
    assert read_ids() == ALL_ITEMS  # the caller remembered: reads run on a pooled DB-API connection
    if route == "delete_items":
        assert call("create_items", WRITES["create_items"]).status == 201
    pid = _backend_pid()
    _terminate(pid)

    body = WRITES.get(route, {"model_name": "Item", "requested_data": ["id"]} if route == "get_items" else {})
    reply = call(route, body)

    assert reply.status in (200, 201), reply.envelope
    assert _backend_pid() != pid


def test_a_connection_that_dies_in_use_is_a_503_and_the_next_request_is_fresh(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a warm container WHEN the server ends the connection's backend after checkout (the
    checkout saw nothing yet) THEN the read is a 503 in the envelope and the connection is
    discarded: the next read runs on another backend and answers correctly."""
    assert read_ids() == ALL_ITEMS
    assert read_ids() == ALL_ITEMS
    pid = _backend_pid()
    _terminate(pid)
    monkeypatch.setattr(wire, "server_wrote", lambda _connection: False)

    reply = call("get_items", {"model_name": "Item", "requested_data": ["id"]})

    assert reply.status == 503, reply.envelope
    assert reply.envelope["server_message"] == "Unavailable DatabaseUnavailable"
    assert read_ids() == ALL_ITEMS
    assert _backend_pid() != pid


@pytest.mark.parametrize("route", list(WRITES))
def test_a_read_only_database_answers_writes_with_503_and_serves_reads(world: World, route: str) -> None:
    """GIVEN the database turned read-only (as during an RDS failover) WHEN a write comes THEN 503
    DatabaseReadOnly in the envelope, nothing written; reads are served."""
    name = world.engine.url.database
    with world.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    dbmod.dispose_engine()  # new connections take the database's setting
    before = (
        world.scalar('SELECT count(*) FROM "Dealer"'),
        world.scalar('SELECT location FROM "Item" WHERE id = 1'),
    )

    reply = call(route, WRITES[route])

    assert reply.status == 503, reply.envelope
    assert reply.envelope["server_message"] == "Unavailable DatabaseReadOnly"
    assert read_ids() == ALL_ITEMS
    with world.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
    assert (
        world.scalar('SELECT count(*) FROM "Dealer"'),
        world.scalar('SELECT location FROM "Item" WHERE id = 1'),
    ) == before


def test_a_driver_failure_in_a_read_of_its_own_discards_its_connection(world: World) -> None:
    """The same guard as `transaction()`'s: a failure that is not our own refusal discards the
    pooled connection before it goes back to the pool."""
    before = _backend_pid()
    statement = text("SELECT CAST(:v AS text)").compile(dialect=dbmod.get_engine().dialect)
    with pytest.raises(UnicodeEncodeError), dbmod.read_transaction() as connection:
        connection.rows(statement, {"v": "\ud800"})  # type: ignore[arg-type]
    assert _backend_pid() != before
    assert read_ids() == ALL_ITEMS


def test_a_refusal_of_our_own_keeps_the_connection(world: World) -> None:
    """A 4xx raised by our code between statements leaves the connection in a known state."""
    before = _backend_pid()
    reply = call("update_items", {"model_name": "Item", "query_filters": {"id": 999}, "update_type": "first_match",
                                  "object_values": {"state": "x"}})  # fmt: skip
    assert reply.status == 404
    assert _backend_pid() == before


def test_the_socket_timeout_is_set_past_the_statement_timeout(world: World) -> None:
    with dbmod.transaction() as session:
        raw = session.connection().connection.dbapi_connection
        assert raw._usock.gettimeout() == get_settings().socket_timeout_ms / 1000
    assert get_settings().socket_timeout_ms > get_settings().statement_timeout_ms


@pytest.fixture
def silent_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A TCP listener on 127.0.0.1 that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql+pg8000://postgres@127.0.0.1:{port}/dataapi")
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_MS", "500")
    get_settings.cache_clear()
    dbmod.dispose_engine()
    yield f"127.0.0.1:{port}"
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    listener.close()
    dbmod.dispose_engine()
    get_settings.cache_clear()


def test_a_database_that_accepts_and_never_answers_is_a_503_in_the_envelope(silent_database: str) -> None:
    started = time.monotonic()
    reply = call("get_items", {"model_name": "Item", "requested_data": ["id"]})
    assert reply.status == 503, reply.envelope
    assert reply.envelope["server_message"] == "Unavailable DatabaseUnavailable"
    assert time.monotonic() - started < 20  # bounded: the test cannot hang (Lambda's timeout is 20 s)


def test_a_lock_timeout_answers_503_and_writes_nothing(world: World) -> None:
    """GIVEN a lock_timeout on the database and another transaction holding item 1's row lock WHEN an
    update of item 1 comes THEN 503 LockTimeout in the envelope (a retry later may succeed), and
    nothing written."""
    name = world.engine.url.database
    with world.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ALTER DATABASE \"{name}\" SET lock_timeout = '100ms'"))
    dbmod.dispose_engine()  # new connections take the database's setting
    holder = world.engine.connect()
    holder.execute(text('SELECT id FROM "Item" WHERE id = 1 FOR UPDATE'))
    try:
        reply = call("update_items", WRITES["update_items"])
    finally:
        holder.rollback()
        holder.close()
        with world.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" RESET lock_timeout'))

    assert reply.status == 503, reply.envelope
    assert reply.envelope["server_message"] == "Unavailable LockTimeout"
    assert world.scalar('SELECT location FROM "Item" WHERE id = 1') != "after a failover"
