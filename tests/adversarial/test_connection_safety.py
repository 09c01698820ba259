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


def test_a_read_of_its_own_on_a_connection_the_server_closed_is_a_503_and_the_next_is_fresh(
    world: World,
) -> None:
    """GIVEN a warm container (reads run in read_transaction, on a pooled DB-API connection) WHEN
    the server ends that connection's backend THEN the read is a 503 in the envelope and the
    connection is discarded: the next read runs on another backend and answers correctly."""
    assert read_ids() == ALL_ITEMS
    assert read_ids() == ALL_ITEMS  # the caller remembered: no session from here on
    pid = _backend_pid()
    admin = create_engine(get_settings().database_url)
    with admin.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    admin.dispose()

    reply = call("get_items", {"model_name": "Item", "requested_data": ["id"]})

    assert reply.status == 503, reply.envelope
    assert reply.envelope["server_message"] == "Unavailable DatabaseUnavailable"
    assert read_ids() == ALL_ITEMS
    assert _backend_pid() != pid


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
