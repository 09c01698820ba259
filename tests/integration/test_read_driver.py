"""Reads send their compiled statement on the DB-API cursor (ReadConnection.rows), past
SQLAlchemy's execution. GIVEN any read shape, WHEN it runs both ways, THEN the driver receives the
same SQL with the same values and the rows are the same; driver errors still arrive as
SQLAlchemy's DBAPIError.
"""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dataapi.db import wire
from dataapi.db.engine import reading
from dataapi.db.sqlstate import sqlstate
from dataapi.query import cursor
from dataapi.reads import compile_read, validate
from dataapi.registry import default_registry
from dataapi.settings import Settings
from tests.support.read_shapes import PAIRS

NOW = datetime(2025, 12, 5, 13, 45, 10, tzinfo=UTC)
SPECS = ["-purchased_price", "-id"]
REQUESTS = {
    **{f"{name} ({i})": {"query_filters": pair[i]} for name, pair in PAIRS.items() for i in (0, 1)},
    "contains, a wildcard and the escape": {
        "query_filters": {"type": {"operation": "contains", "value": "5%_/"}}
    },
    "cursor and count": {
        "order_by": ["-purchased_price"],
        "count": True,
        "cursor": cursor.encode(SPECS, [900, 4]),
        "query_filters": {"state": ["Sold", "In-Stock"]},
    },
}


Sent = list[tuple[str, tuple[Any, ...]]]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Every statement and its values as the driver's cursor receives them (both ways go through it:
    the test engine's connections are the layer's)."""
    seen: Sent = []
    execute = wire.Cursor.execute

    def recording(cursor: wire.Cursor, operation: str, args: Any = (), stream: Any = None) -> None:
        seen.append((operation, tuple(args)))
        execute(cursor, operation, args, stream)

    monkeypatch.setattr(wire.Cursor, "execute", recording)
    return seen


def both_ways(session: Session, sent: Sent, request: dict[str, Any]) -> tuple[Any, Any]:
    """The read run through SQLAlchemy's execute and on the cursor: the driver must receive the same
    statements with the same values; returns the rows of each."""
    raw = {"model_name": "Item", "requested_data": ["id", {"dealer": ["dealer_name"]}], **request}
    valid = validate(raw, default_registry(), Settings(), NOW)
    connection = reading(session)
    read = compile_read(valid, valid.filters, connection.dialect)
    statements = [(read.query.statement, read.compiled, read.params)]
    if read.query.count is not None:
        statements.append((read.query.count, read.count_compiled, read.count_params))

    core = session.connection()
    sent.clear()
    by_sqlalchemy = [
        [tuple(r) for r in core.execute(statement, params)] for statement, _, params in statements
    ]
    through_sqlalchemy = list(sent)
    sent.clear()
    ours = []
    for _, compiled, params in statements:
        assert compiled is not None
        ours.append([tuple(r) for r in connection.rows(compiled, params)])
    assert sent == through_sqlalchemy
    return ours, by_sqlalchemy


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_a_read_sent_on_the_cursor_is_the_read_sqlalchemy_would_send(
    db_session: Session, sent: Sent, name: str
) -> None:
    ours, by_sqlalchemy = both_ways(db_session, sent, REQUESTS[name])
    assert ours == by_sqlalchemy


def test_the_seeded_rows_are_found_both_ways(db_session: Session, sent: Sent) -> None:
    """The rows compared above are not all empty."""
    everything = {"query_filters": {"state": ["Sold", "In-Stock", "Reserved", "In-Transit"]}}
    ours, _ = both_ways(db_session, sent, everything)
    assert ours[0]


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(db_session: Session) -> None:
    raw = {"model_name": "Item", "requested_data": ["id"], "query_filters": {"id": 5}}
    valid = validate(raw, default_registry(), Settings(), NOW)
    connection = reading(db_session)
    read = compile_read(valid, valid.filters, connection.dialect)
    assert read.params
    with db_session.begin_nested(), pytest.raises(DBAPIError) as raised:
        connection.rows(read.compiled, dict.fromkeys(read.params, "not a number"))
    assert sqlstate(raised.value) == "22P02"
    assert not raised.value.connection_invalidated
