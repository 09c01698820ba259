"""Round trips to PostgreSQL per request (dataapi.db.wire), counted at the socket, on a real database.

pg8000 buffers protocol messages in a stream over its socket and flushes it when it needs the
server's answer: every flush is one round trip. The layer's engine (dataapi.db.engine) is used as the
handlers use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dataapi.db import engine as dbmod
from dataapi.db import wire
from dataapi.identity.remembered import CALLERS
from dataapi.models import Dealer, Item, Role, User
from dataapi.ops.items import get_items
from dataapi.settings import get_settings
from dataapi.telemetry import metrics

CLAIMS = {"sub": "trips-sub", "email": "trips@example.com"}


class Trips:
    def __init__(self) -> None:
        self.count = 0


class _Counting:
    def __init__(self, stream: Any, trips: Trips) -> None:
        self._stream, self._trips = stream, trips

    def flush(self) -> None:
        self._trips.count += 1
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@pytest.fixture
def trips(api_env: str) -> Iterator[Trips]:
    """The layer's engine on a fresh database holding an Admin caller, every socket flush counted."""
    seed = create_engine(api_env)
    with Session(seed) as session, session.begin():
        dealer = Dealer(dealer_name="Dealer A")
        session.add(User(username="trips", email=CLAIMS["email"], phone="-", cognito_sub=CLAIMS["sub"],
                         roles=[Role(role="Admin", key="admin")]))  # fmt: skip
        session.add_all([Item(article_number=f"A-{i}", dealer=dealer) for i in range(12)])
    seed.dispose()
    counted = Trips()

    def wrap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection._sock = _Counting(dbapi_connection._sock, counted)

    event.listen(dbmod.get_engine(), "connect", wrap)
    yield counted


def read(per_page: int) -> list[dict[str, Any]]:
    import json

    request = {
        "model_name": "Item",
        "requested_data": ["id", {"dealer": ["dealer_name"]}],
        "per_page": per_page,
    }
    return json.loads(get_items(request, CLAIMS).body)


@pytest.mark.parametrize("per_page", [1, 10])
def test_a_warm_get_items_is_one_round_trip(trips: Trips, per_page: int) -> None:
    """GIVEN a warm container (its connection open, the caller remembered)
    WHEN get_items reads a page with a to-one relationship
    THEN it takes 1 round trip: BEGIN (with the statement timeout and the identity generation),
    the data and COMMIT in one flush."""
    read(per_page)
    before = trips.count

    rows = read(per_page)

    assert len(rows) == per_page and rows[0]["dealer"] == {"dealer_name": "Dealer A"}
    assert trips.count - before == 1


def test_a_caller_not_remembered_or_changed_costs_one_more_trip(trips: Trips) -> None:
    """GIVEN a warm connection WHEN a new caller reads, or a remembered one changed since
    THEN the caller is loaded first: 2 trips; after a change the dropped page is one more."""
    read(1)
    CALLERS.forget(CLAIMS)
    start = trips.count
    read(1)
    assert trips.count - start == 2

    with dbmod.transaction() as session:
        session.execute(text('UPDATE "User" SET phone = :p'), {"p": "+46 8 000"})
    start = trips.count
    read(1)
    assert trips.count - start == 3


def test_a_new_connection_s_first_request_asks_its_first_connect_questions_in_one_trip(
    trips: Trips,
) -> None:
    """GIVEN a new container: no connection yet, the caller not remembered
    WHEN its first get_items runs
    THEN after the server's start-up exchange it costs 3 trips: the dialect's first-connect
    questions (server version, default schema, standard_conforming_strings, isolation level) in
    one query outside any transaction, the caller, the page (SQLAlchemy's own first connect asks
    them in four queries and rolls back: 5 trips)."""
    from_start = Trips()

    def wrap_first(dbapi_connection: Any, _record: Any) -> None:  # before the first connect's questions
        dbapi_connection._sock = _Counting(dbapi_connection._sock, from_start)

    event.listen(dbmod.get_engine(), "connect", wrap_first, insert=True)
    CALLERS.forget(CLAIMS)
    with wire.watched() as sent:
        rows = read(1)

    assert len(rows) == 1
    assert from_start.count == 3, sent
    assert len(sent) == 3 and "current_schema()" in sent[0]


def test_the_statements_metric_counts_what_each_request_sent(trips: Trips) -> None:
    """Reads send their statement on the DB-API cursor, where SQLAlchemy's events do not see it:
    the Statements metric is counted at the driver, one value per transaction."""
    read(1)
    CALLERS.forget(CLAIMS)
    metrics.clear_metrics()
    with wire.watched() as sent:
        read(1)  # the caller loaded, then the page
        read(1)  # as the remembered caller: the page only

    assert metrics.metric_set["Statements"]["Value"] == [2.0, 1.0]
    assert len(sent) == 3
    metrics.clear_metrics()


def test_a_new_connection_is_not_pinged_and_an_idle_one_is(
    trips: Trips, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a pooled connection
    WHEN it is checked out again soon, or after it sat idle longer than PING_AFTER_IDLE_S
    THEN only the idle checkout costs a ping (one more trip)."""
    read(1)
    start = trips.count
    read(1)
    warm = trips.count - start
    monkeypatch.setattr(wire, "PING_AFTER_IDLE_S", 0.0)
    start = trips.count
    read(1)
    assert trips.count - start == warm + 1


def test_a_dead_idle_connection_is_replaced_at_checkout(
    trips: Trips, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a pooled connection whose server process was terminated while it sat idle
    WHEN the next request checks it out
    THEN the ping finds it dead, a new connection serves the request."""
    with dbmod.transaction() as session:
        first = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    other = create_engine(get_settings().database_url)
    with other.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    other.dispose()
    monkeypatch.setattr(wire, "PING_AFTER_IDLE_S", 0.0)

    with dbmod.transaction() as session:
        second = session.execute(text("SELECT pg_backend_pid()")).scalar_one()

    assert second != first


def test_the_statement_timeout_holds_inside_each_transaction_only(
    trips: Trips, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN STATEMENT_TIMEOUT_MS=1234
    WHEN a transaction runs, and afterwards the same connection is asked outside any transaction
    THEN the timeout holds inside (no statement of its own), and nothing was set for the session."""
    monkeypatch.setenv("STATEMENT_TIMEOUT_MS", "1234")
    get_settings.cache_clear()
    start = trips.count
    with dbmod.transaction() as session:
        inside = session.execute(text("SHOW statement_timeout")).scalar_one()
    assert inside == "1234ms"
    assert trips.count - start == 2  # BEGIN + timeout + SHOW in one trip, COMMIT in one

    raw = dbmod.get_engine().raw_connection()
    try:
        outside = raw.driver_connection.execute_simple("SHOW statement_timeout").rows
    finally:
        raw.close()
    assert outside == [["0"]]


def test_a_transaction_without_statements_costs_nothing(trips: Trips) -> None:
    read(1)
    start = trips.count
    with dbmod.transaction():
        pass
    assert trips.count == start


def test_an_error_in_a_pipelined_statement_leaves_the_connection_usable(trips: Trips) -> None:
    """GIVEN the first statement of a transaction fails (sent with the held BEGIN), or a later one
    WHEN the transaction rolls back
    THEN the error is the statement's, and the next transaction on the connection works."""
    for failing, params, code in (
        ("SELECT 1/0", {}, "22012"),
        ("SELECT id FROM nowhere WHERE id = :x", {"x": 1}, "42P01"),
    ):
        with pytest.raises(DBAPIError) as first, dbmod.transaction() as session:
            session.execute(text(failing), params)  # a simple query without parameters, else extended
        assert code in str(first.value.orig)
        with pytest.raises(DBAPIError) as later, dbmod.transaction() as session:
            session.execute(text("SELECT 1"))
            session.execute(text(failing), params)
        assert code in str(later.value.orig)
        with dbmod.transaction() as session:
            assert session.execute(text("SELECT CAST(:v AS int) + 1"), {"v": 41}).scalar_one() == 42


class Unprintable:
    def __str__(self) -> str:
        raise ValueError("no text form")


def test_a_value_the_driver_refuses_sends_nothing(trips: Trips) -> None:
    """GIVEN a parameter pg8000 cannot send
    WHEN the statement is executed
    THEN the driver refuses it before writing anything: the connection stays in step."""
    for refused in ("\ud800", Unprintable()):  # a lone surrogate cannot be encoded; str() fails
        with pytest.raises((UnicodeEncodeError, ValueError)), dbmod.transaction() as session:
            session.execute(text("SELECT 1"))
            session.execute(text("SELECT :v"), {"v": refused})
    with dbmod.transaction() as session:
        assert session.execute(text("SELECT 'still here'")).scalar_one() == "still here"


def test_a_commit_sent_with_the_last_statement_commits(trips: Trips) -> None:
    """GIVEN a transaction whose last statement carries the COMMIT
    WHEN it succeeds
    THEN its work is committed in that one trip, and the session's commit sends nothing."""
    start = trips.count
    with dbmod.transaction() as session:
        session.execute(text("SELECT 1"))
        dbmod.commit_with_next(session)
        session.execute(text('UPDATE "Dealer" SET dealer_name = :n'), {"n": "Dealer B"})
    assert trips.count - start == 2
    other = create_engine(get_settings().database_url)
    with other.connect() as conn:
        assert conn.execute(text('SELECT DISTINCT dealer_name FROM "Dealer"')).scalar_one() == "Dealer B"
    other.dispose()


def test_a_failing_last_statement_reports_its_own_error_and_writes_nothing(trips: Trips) -> None:
    """GIVEN a transaction that wrote, and whose last statement (carrying the COMMIT) fails
    WHEN it runs
    THEN the statement's error is raised (not the COMMIT's), nothing is committed, and the
    connection serves the next transaction."""
    with pytest.raises(DBAPIError) as failed, dbmod.transaction() as session:
        session.execute(text('UPDATE "Dealer" SET dealer_name = :n'), {"n": "Dealer C"})
        dbmod.commit_with_next(session)
        session.execute(text("SELECT 1 / CAST(:z AS int)"), {"z": 0})
    assert "22012" in str(failed.value.orig)
    with dbmod.transaction() as session:
        assert session.execute(text('SELECT DISTINCT dealer_name FROM "Dealer"')).scalar_one() == "Dealer A"


def test_other_users_of_the_engine_begin_without_the_timeout(
    trips: Trips, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a request transaction ran on the pooled connection
    WHEN the engine is used directly (as migrations use it)
    THEN its transaction has no statement timeout: a long migration is not cancelled."""
    monkeypatch.setenv("STATEMENT_TIMEOUT_MS", "1234")
    get_settings.cache_clear()
    with dbmod.transaction() as session:
        assert session.execute(text("SHOW statement_timeout")).scalar_one() == "1234ms"
    with dbmod.get_engine().begin() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "0"
