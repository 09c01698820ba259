"""Idempotency keys on the write routes (docs/contract.md §4.6), through the handlers with API
Gateway events: a replay answers the stored answer and writes nothing, a reused key with another
body is 422, another caller's key is its own, a refused first request is not stored, an expired
key runs again, and a request that finds its key held waits for it (then replays) or answers 409.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dataapi.models import Item, Role, User
from dataapi.settings import get_settings
from tests.handler.support import CALLER_SUB, Db, Reply, body, claims_for, event, invoke

CREATE = "/api/schemes/create_items"
UPDATE = "/api/schemes/update_items"
DELETE = "/api/schemes/delete_items"
KEY = "order-7f3a9c1e-0001"
OTHER_SUB, OTHER_EMAIL = "5d1e8c2a-7b44-4f0e-9a61-0c2b3d4e5f60", "other@example.com"


def send(function: str, path: str, sent: Any, key: str | None = KEY, **kwargs: Any) -> Reply:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return invoke(function, event(path, sent, headers=headers, **kwargs))


def count(db: Db, table: str) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()


def stored_keys(db: Db) -> list[tuple[str, str, str, int | None]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT principal, route, key, status FROM dataapi.idempotency ORDER BY 1, 2, 3")
        )
        return [tuple(r) for r in rows]


def same_answer(first: Reply, again: Reply) -> None:
    """The replay's envelope is the first answer's, but for its own request_id."""
    assert again.status == first.status
    strip = {k: v for k, v in first.envelope.items() if k != "request_id"}
    assert {k: v for k, v in again.envelope.items() if k != "request_id"} == strip
    assert again.envelope["request_id"] != first.envelope["request_id"]


def test_given_a_keyed_create_when_sent_again_then_the_answer_is_replayed_and_nothing_written(db: Db) -> None:
    first = send("create_items", CREATE, body("policy_create_items"))
    assert first.status == 201 and "idempotent-replayed" not in first.headers
    rows = count(db, "Item")
    again = send("create_items", CREATE, body("policy_create_items"))
    same_answer(first, again)
    assert again.headers["idempotent-replayed"] == "true"
    assert count(db, "Item") == rows
    assert stored_keys(db) == [(CALLER_SUB, "create_items", KEY, 201)]


def test_given_keyed_updates_and_deletes_when_sent_again_then_replayed_without_running(db: Db) -> None:
    (item,) = db.add(Item(article_number="2511-001", state="In-Transit"))
    update = {**body("policy_update_items"), "query_filters": {"id": item.id}}
    first = send("update_items", UPDATE, update)
    assert first.status == 201 and first.body == [{"id": item.id, "state": "In-Stock"}]
    with db.engine.begin() as conn:  # changed since: a replay must not write it back
        conn.execute(text("UPDATE \"Item\" SET state = 'Sold' WHERE id = :id"), {"id": item.id})
    again = send("update_items", UPDATE, update)
    same_answer(first, again)
    assert again.headers["idempotent-replayed"] == "true"
    with db.engine.connect() as conn:
        assert (
            conn.execute(text('SELECT state FROM "Item" WHERE id = :id'), {"id": item.id}).scalar_one()
            == "Sold"
        )

    delete = {
        "model_name": "Item",
        "object_values": {"query_filters": {"id": item.id}, "deletion_type": "delete_first"},
    }
    gone = send("delete_items", DELETE, delete, key="delete-1")
    assert gone.status == 201, gone
    db.add(Item(id=item.id, article_number="2511-001", state="In-Transit"))  # back again
    replayed = send("delete_items", DELETE, delete, key="delete-1")
    same_answer(gone, replayed)
    assert count(db, "Item") == 1  # the replay deleted nothing


def test_given_a_key_when_sent_with_another_body_then_422_and_nothing_written(db: Db) -> None:
    assert send("create_items", CREATE, body("policy_create_items")).status == 201
    rows = count(db, "Item")
    other = body("policy_create_items")
    other["object_values"]["article_number"] = "2601-002"
    reused = send("create_items", CREATE, other)
    assert reused.status == 422
    assert reused.server_message.startswith("IdempotencyKeyReused")
    assert count(db, "Item") == rows


def test_given_the_same_key_when_another_caller_sends_it_then_it_runs_for_them(db: Db) -> None:
    with Session(db.engine) as session, session.begin():
        admin = session.scalars(select(Role).where(Role.role == "Admin")).one()
        session.add(
            User(
                username="other",
                email=OTHER_EMAIL,
                phone="+46 70 000 00 01",
                cognito_sub=OTHER_SUB,
                roles=[admin],
            )
        )
    first = send("create_items", CREATE, body("policy_create_items"))
    other = send(
        "create_items", CREATE, body("policy_create_items"), claims=claims_for(OTHER_SUB, OTHER_EMAIL)
    )
    assert other.status == 201 and "idempotent-replayed" not in other.headers
    assert other.ids != first.ids and count(db, "Item") == 2
    assert sorted(k[0] for k in stored_keys(db)) == sorted([CALLER_SUB, OTHER_SUB])


def test_given_a_first_request_refused_when_sent_again_then_it_runs_again(db: Db) -> None:
    update = {**body("policy_update_items"), "query_filters": {"article_number": "2599-404"}}
    missing = send("update_items", UPDATE, update)
    assert missing.status == 404
    assert stored_keys(db) == []  # not stored: the claim rolled back with the request
    db.add(Item(article_number="2599-404", state="In-Transit"))
    found = send("update_items", UPDATE, update)
    assert found.status == 201 and "idempotent-replayed" not in found.headers


def test_given_an_expired_key_when_sent_again_then_it_runs_and_housekeeping_removes_it(db: Db) -> None:
    from tests.handler.support import handler
    from tests.handler.test_scheduled import scheduled_context

    assert send("create_items", CREATE, body("policy_create_items")).status == 201
    rows = count(db, "Item")
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE dataapi.idempotency SET expires_at = now() - interval '1 second'"))
    again = send("create_items", CREATE, body("policy_create_items"))
    assert again.status == 201 and "idempotent-replayed" not in again.headers  # never replayed
    assert count(db, "Item") == rows + 1
    with db.engine.begin() as conn:  # expired again, and one of another caller still valid
        conn.execute(text("UPDATE dataapi.idempotency SET expires_at = now() - interval '1 second'"))
        conn.execute(
            text(
                "INSERT INTO dataapi.idempotency (principal, route, key, body_hash, expires_at, status)"
                " VALUES ('someone', 'create_items', 'k', 'h', now() + interval '1 hour', 201)"
            )
        )
    summary = handler("update_items")({"housekeeping": "idempotency"}, scheduled_context())
    assert summary == {"status": 200, "message": "Expired idempotency keys removed.", "rows": 1}
    assert stored_keys(db) == [("someone", "create_items", "k", 201)]


@pytest.mark.parametrize("key", ["", " ", "has space", "x" * 256, "naïve", "tab\there"])
def test_given_a_malformed_key_when_sent_then_400_naming_the_header_and_nothing_written(
    db: Db, key: str
) -> None:
    rows = count(db, "Item")
    refused = send("create_items", CREATE, body("policy_create_items"), key=key)
    assert refused.status == 400
    assert "Idempotency-Key" in refused.message and "Idempotency-Key" in refused.server_message
    assert count(db, "Item") == rows and stored_keys(db) == []


def test_given_the_longest_key_when_sent_then_it_is_kept(db: Db) -> None:
    key = "~" * 255
    assert send("create_items", CREATE, body("policy_create_items"), key=key).status == 201
    assert stored_keys(db)[0][2] == key


def test_given_no_key_when_sent_twice_then_both_run(db: Db) -> None:
    rows = count(db, "Item")
    assert send("create_items", CREATE, body("policy_create_items"), key=None).status == 201
    assert send("create_items", CREATE, body("policy_create_items"), key=None).status == 201
    assert count(db, "Item") == rows + 2 and stored_keys(db) == []


def _hold(db: Db, *, answered: bool) -> Any:
    """A transaction of another request holding KEY for the caller (uncommitted); answered: with
    the answer it will commit."""
    conn = db.engine.connect()
    conn.begin()
    conn.execute(
        text(
            "INSERT INTO dataapi.idempotency (principal, route, key, body_hash, expires_at, status,"
            " message, body, server_message) VALUES (:p, 'create_items', :k, :h, now() + interval '1 hour',"
            " :s, 'Item 2601-001 created!', '[[{\"id\": 99}]]', '')"
        ),
        {"p": CALLER_SUB, "k": KEY, "h": _hash(), "s": 201 if answered else None},
    )
    return conn


def _hash() -> str:
    from dataapi.idempotency import body_hash

    return body_hash(body("policy_create_items"))


def test_given_a_key_held_by_a_running_request_when_it_commits_then_the_waiter_replays_its_answer(
    db: Db,
) -> None:
    holder = _hold(db, answered=True)
    timer = threading.Timer(0.3, holder.commit)
    timer.start()
    try:
        waited = send("create_items", CREATE, body("policy_create_items"))
    finally:
        timer.join()
        holder.close()
    assert waited.status == 201 and waited.headers["idempotent-replayed"] == "true"
    assert waited.body == [[{"id": 99}]]
    assert count(db, "Item") == 0


def test_given_a_key_held_past_the_statement_timeout_then_409_and_after_a_rollback_it_runs(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATEMENT_TIMEOUT_MS", "300")
    get_settings.cache_clear()
    holder = _hold(db, answered=False)
    try:
        busy = send("create_items", CREATE, body("policy_create_items"))
    finally:
        holder.rollback()
        holder.close()
    assert busy.status == 409
    assert busy.server_message.startswith("IdempotencyKeyInProgress")
    assert count(db, "Item") == 0
    ran = send("create_items", CREATE, body("policy_create_items"))
    assert ran.status == 201 and "idempotent-replayed" not in ran.headers
    get_settings.cache_clear()
