"""Ten identical keyed creates sent at once (a client retrying a create whose answer was lost, in
parallel containers): exactly one row, ten identical answers, nine of them replayed.

Each request runs as a Lambda container runs it, in a thread of its own with its own connection
(the layer's engine given a pool as large as the number of requests), from the route's entry point
(dataapi.ops.items.create_items) on, released together by a barrier.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import create_engine

from dataapi.db import engine as dbmod
from dataapi.db import wire
from dataapi.ops.items import create_items
from dataapi.result import Result
from tests.adversarial.support import ANNA, World
from tests.support.callers import claims_of

PARALLEL = 10
KEY = "retry-of-a-lost-answer"


@pytest.fixture
def parallel_engine(api_env: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The layer's engine, with a connection for each request at once (a container has one)."""
    dbmod.dispose_engine()
    engine = create_engine(api_env, pool_size=PARALLEL, max_overflow=0, pool_pre_ping=False)
    wire.install(engine)
    monkeypatch.setattr(dbmod, "_engine", engine)
    yield engine
    engine.dispose()


def test_ten_parallel_identical_keyed_creates_make_one_row(world: World, parallel_engine: Any) -> None:
    body = {
        "model_name": "Item_Note",
        "object_values": {"note_content": "sent ten times"},
        "requested_data": ["id", "note_content"],
    }
    before = world.scalar('SELECT count(*) FROM "Item_Note"')
    barrier = threading.Barrier(PARALLEL, timeout=30)
    answers: list[Result | BaseException | None] = [None] * PARALLEL

    def send(i: int) -> None:
        try:
            barrier.wait()
            answers[i] = create_items({**body}, claims_of(ANNA), key=KEY)
        except BaseException as exc:
            answers[i] = exc

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a request hung"
    results = [a for a in answers if isinstance(a, Result)]
    assert len(results) == PARALLEL, answers
    assert world.scalar('SELECT count(*) FROM "Item_Note" WHERE note_content = :n', n="sent ten times") == 1
    assert world.scalar('SELECT count(*) FROM "Item_Note"') == before + 1
    assert len({(r.status, r.message, r.body, r.server_message) for r in results}) == 1
    assert results[0].status == 201
    assert sorted(r.replayed for r in results) == [False] + [True] * (PARALLEL - 1)
