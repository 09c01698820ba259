"""SnapStart's after-restore hook (dataapi.snapstart.after_restore) through the get_items handler,
on the test PostgreSQL: a container that served requests (a pooled connection, a remembered caller,
the tracer's socket) is what a snapshot would hold at worst; after the hook none of it is left,
and the next request works, loading its caller again.
"""

from __future__ import annotations

import random
import socket
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine.default import CacheStats

from dataapi import reads, snapstart
from dataapi.db import engine as dbmod
from dataapi.db import wire
from dataapi.identity.remembered import CALLERS
from dataapi.models import Dealer, Item
from dataapi.registry import default_registry
from dataapi.settings import get_settings
from dataapi.telemetry import tracer
from tests.handler import support
from tests.handler.get_items_support import invoke, load_event
from tests.handler.support import Db


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sampled invocation with the X-Ray daemon's address on a local UDP port nobody reads."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    )
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{port}")


def test_after_restore_leaves_no_connection_caller_or_socket_and_the_next_request_works(
    db: Db, traced: None
) -> None:
    """GIVEN a primed container that served two get_items requests (its connection pooled, its
    caller remembered, the tracer's socket open) and `random` in the state the snapshot holds
    WHEN the after-restore hook runs
    THEN the pool holds no connection, no caller is remembered, the tracer holds no socket,
    `random` was re-seeded; and the next request answers the same rows, its caller loaded again."""
    shop = Dealer(dealer_name="Gamla Stans Antik", dealer_type="Shop")
    a, b = db.add(Item(article_number="2511-001", dealer=shop), Item(article_number="2511-002"))
    snapstart.prime()
    first = invoke(load_event("get_items_item_list"))
    second = invoke(load_event("get_items_item_list"))
    assert first.status == second.status == 200
    assert first.ids == second.ids == [b.id, a.id]
    engine = dbmod.get_engine()
    assert engine.pool.checkedin() == 1 and len(CALLERS) >= 1 and tracer._sock is not None
    pooled = engine.pool
    random.seed(21)
    snapshot_state = random.getstate()

    snapstart.after_restore()

    assert dbmod.get_engine() is engine  # the engine (and the statements compiled for its dialect) stays
    assert engine.pool is not pooled
    assert engine.pool.checkedin() == 0 and engine.pool.checkedout() == 0
    assert len(CALLERS) == 0
    assert tracer._sock is None
    assert random.getstate() != snapshot_state
    with wire.watched() as sent:
        after = invoke(load_event("get_items_item_list"))
    assert after.status == 200
    assert after.ids == [b.id, a.id]
    assert after.body == second.body
    assert any('FROM "User"' in statement for statement in sent)  # the caller loaded, not remembered
    assert engine.pool.checkedin() == 1


@pytest.mark.parametrize("name", ["get_items_item_list", "get_items_search_or", "get_items_single_item"])
def test_what_priming_compiled_is_what_a_connected_engine_compiles(db: Db, name: str) -> None:
    """GIVEN the process primed before any connection (the dialect had not met the server)
    WHEN the first request runs the front end's read `name`
    THEN its caller's statement came from the engine's compiled cache, and the read's primed
    statement sends exactly the SQL and values that one built from scratch by the connected
    engine sends; no statement's placeholders were left to convert."""
    wire._positional.cache_clear()
    snapstart.prime()
    engine = dbmod.get_engine()
    caller_statements: list[bool] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if 'FROM "User"' in statement:
            caller_statements.append(context.cache_hit is CacheStats.CACHE_HIT)

    event.listen(engine, "after_cursor_execute", seen)
    converted = wire._positional.cache_info().misses
    try:
        reply = invoke(load_event(name))
    finally:
        event.remove(engine, "after_cursor_execute", seen)
    assert reply.status == 200
    assert caller_statements == [True]
    assert wire._positional.cache_info().misses == converted
    valid = reads.plan(support.body(name), default_registry(), get_settings()).valid
    primed = reads.compile_read(valid, valid.filters, engine.dialect)
    fresh = reads.compile_read(valid, valid.filters, engine.dialect, reuse=False)
    assert primed.compiled is not fresh.compiled
    sent = (str(primed.compiled), primed.compiled.construct_params(primed.params))
    assert sent == (str(fresh.compiled), fresh.compiled.construct_params(fresh.params))
    # The page as sent (as one row from reads.ONE_ROW_FROM) is the primed one too.
    assert (primed.one_row is None) == (fresh.one_row is None)
    sent = (str(primed.page), primed.page.construct_params(primed.params))
    assert sent == (str(fresh.page), fresh.page.construct_params(fresh.params))
