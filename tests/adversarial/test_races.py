"""Races that parallel Lambda containers produce: the same write sent by several callers at once.

Each request runs as a Lambda container runs it, in a thread of its own with its own connection
and transaction (a barrier releases them together): the caller loaded from its claims, then the
plan run under the caller's policy. Its outcome is the status the API would answer: 201, a domain
error's status, or 500 for anything else (what a StaleDataError became). Rounds and joins are
bounded.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from dataapi import writes
from dataapi.db.sqlstate import translate
from dataapi.errors import ApiError
from dataapi.identity.authorize import for_caller
from dataapi.mutate.serial import lock_key
from dataapi.query.parse import parse_filters
from dataapi.query.validate import validate_filters
from dataapi.registry import default_registry
from dataapi.settings import get_settings
from tests.adversarial.support import ANNA, World
from tests.support.callers import Who, claims_of

PARALLEL = 10
ROUNDS = 5


def _status(exc: BaseException | None) -> int | str:
    """What the API answers for a write that raised `exc` (dataapi/http.py's mapping)."""
    if exc is None:
        return 201
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, DBAPIError):
        mapped = translate(exc, default_registry().constraints)
        return mapped.status if mapped.status < 500 else f"{mapped.status} {mapped.server_message} {exc}"
    return f"500 {type(exc).__name__}: {exc}"


def _at_once(url: str, requests: list[tuple[writes.WritePlan, Who]]) -> list[int | str]:
    """Each plan run as its caller, all at once, each in a transaction of its own; their statuses."""
    engine = create_engine(url, poolclass=NullPool)
    barrier = threading.Barrier(len(requests), timeout=30)
    statuses: list[int | str] = [0] * len(requests)

    def run(i: int, plan: writes.WritePlan, who: Who) -> None:
        failure: BaseException | None = None
        try:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                session.connection()
                barrier.wait()
                auth = for_caller(session, claims_of(who))
                plan.run(session, actor=auth.caller.username, auth=auth, hooks={})
        except BaseException as exc:
            failure = exc
        statuses[i] = _status(failure)

    threads = [threading.Thread(target=run, args=(i, *r), daemon=True) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    engine.dispose()
    return statuses


def _update(body: dict[str, Any]) -> writes.WritePlan:
    return writes.plan_update(body, default_registry(), get_settings())


def _notes_of(world: World, item: int) -> list[int]:
    return [
        r[0] for r in world.rows('SELECT note_id FROM "Items_Notes" WHERE item_id = :i ORDER BY 1', i=item)
    ]


def _relink(world: World, item: int, notes: list[int]) -> None:
    with world.engine.begin() as conn:
        for note in notes:
            conn.exec_driver_sql(
                'INSERT INTO "Items_Notes" (item_id, note_id) VALUES (%s, %s) ON CONFLICT DO NOTHING',
                (item, note),
            )


def _unlink(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_name": "Item",
        "query_filters": {"id": 1},
        "update_type": "first_match",
        "object_values": {"notes": {"action": "unlink", "values": values}},
    }


def _link(note: int) -> dict[str, Any]:
    link = {"Item_Note": {"query_filters": {"id": note}, "link_type": "all_link"}}
    return {
        "model_name": "Item",
        "query_filters": {"id": 1},
        "update_type": "first_match",
        "object_values": {"notes": {"action": "link", "values": link}},
    }


UNLINK_ALL = {"unlink_type": "unlink_all"}
UNLINK_MATCHES = {"unlink_type": "unlink_matches", "query_filters": {"id": {"operation": "<", "value": 100}}}


def test_concurrent_identical_unlinks_all_answer_201(world: World, api_env: str) -> None:
    """GIVEN Item 1 linked to notes 1 and 2 WHEN a Buyer sends the same unlink_all ten times at
    once, for five rounds (relinked before each) THEN every answer is 201 (unlinking what another
    request unlinked first is no error) and the item has no notes."""
    answers: Counter[int | str] = Counter()
    for _ in range(ROUNDS):
        _relink(world, 1, [1, 2])
        answers.update(_at_once(api_env, [(_update(_unlink(UNLINK_ALL)), ANNA)] * PARALLEL))
        assert _notes_of(world, 1) == []
    assert answers == {201: ROUNDS * PARALLEL}, answers


def test_concurrent_identical_unlink_matches_all_answer_201(world: World, api_env: str) -> None:
    """GIVEN Item 1 linked to notes 1, 2 and 3 WHEN a Buyer sends the same unlink_matches (every
    note with id < 100) ten times at once, for five rounds THEN every answer is 201."""
    answers: Counter[int | str] = Counter()
    for _ in range(ROUNDS):
        _relink(world, 1, [1, 2, 3])
        answers.update(_at_once(api_env, [(_update(_unlink(UNLINK_MATCHES)), ANNA)] * PARALLEL))
        assert _notes_of(world, 1) == []
    assert answers == {201: ROUNDS * PARALLEL}, answers


def test_concurrent_mixed_links_and_unlinks_all_answer_201(world: World, api_env: str) -> None:
    """GIVEN Item 1 linked to notes 1 and 2 WHEN a Buyer sends, at once, unlink_all, unlink_matches
    and links of notes 1..4 THEN every answer is 201, and the counters the database keeps still
    count the item-note links."""
    answers: Counter[int | str] = Counter()
    for _ in range(ROUNDS):
        _relink(world, 1, [1, 2])
        bodies = [_unlink(UNLINK_ALL), _unlink(UNLINK_MATCHES), _link(1), _link(2), _link(3), _link(4)]
        requests = [(_update(bodies[i % len(bodies)]), ANNA) for i in range(PARALLEL)]
        answers.update(_at_once(api_env, requests))
    assert answers == {201: ROUNDS * PARALLEL}, answers
    counted = world.rows(
        'SELECT s.id, s.notes_counter, (SELECT count(*) FROM "Items_Notes" l JOIN "Item_Note" n '
        'ON n.id = l.note_id WHERE n.subject_id = s.id) FROM "Item_Notes_Subject" s ORDER BY 1'
    )
    assert all(kept == actual for _, kept, actual in counted), counted


def _delete(item: int, *, also_do: bool) -> writes.WritePlan:
    values: dict[str, Any] = {"query_filters": {"id": item}, "deletion_type": "delete_first"}
    if also_do:
        values["also_do"] = {"location": "x"}
    return writes.plan_delete(
        {"model_name": "Item", "object_values": values}, default_registry(), get_settings()
    )


def _new_item(world: World) -> int:
    """A fresh item with a note and history, like item 3 of the seed."""
    with world.engine.begin() as conn:
        item = conn.exec_driver_sql(
            "INSERT INTO \"Item\" (article_number, location) VALUES ('race', 'y') RETURNING id"
        ).scalar()
        conn.exec_driver_sql('INSERT INTO "Items_Notes" (item_id, note_id) VALUES (%s, 3)', (item,))
        conn.exec_driver_sql(
            "INSERT INTO \"Item_History\" (item_id, column_name, type) VALUES (%s, 'state', 'update')",
            (item,),
        )
    assert isinstance(item, int)
    return item


def test_concurrent_deletes_with_also_do_answer_one_201_and_404s(world: World, api_env: str) -> None:
    """GIVEN an item (3 of the seed, then a fresh one each round) WHEN a Buyer sends ten
    delete_first with also_do {"location": "x"} at once THEN exactly one answers 201 and the others 404, as
    plain deletes do; never 500."""
    answers: Counter[int | str] = Counter()
    for n in range(ROUNDS):
        item = 3 if n == 0 else _new_item(world)
        statuses = _at_once(api_env, [(_delete(item, also_do=True), ANNA)] * PARALLEL)
        answers.update(statuses)
        assert Counter(statuses) == {201: 1, 404: PARALLEL - 1}, statuses
        assert world.scalar('SELECT count(*) FROM "Item" WHERE id = :i', i=item) == 0
    assert answers == {201: ROUNDS, 404: ROUNDS * (PARALLEL - 1)}, answers


def test_concurrent_plain_deletes_answer_one_201_and_404s(world: World, api_env: str) -> None:
    statuses = _at_once(api_env, [(_delete(3, also_do=False), ANNA)] * PARALLEL)
    assert Counter(statuses) == {201: 1, 404: PARALLEL - 1}, statuses


# Equivalent filters for the subject "Twins": one subject must result whichever is sent.
TWINS_SPELLINGS: list[dict[str, Any]] = [
    {"subject": "Twins"},
    {"subject": {"operation": "==", "value": "Twins"}},
    {"subject": ["Twins"]},
    {"subject": {"operation": "in", "value": ["Twins"]}},
    {"$and": [{"subject": "Twins"}]},
    {"$and": [{"subject": {"operation": "in", "value": ["Twins", "Twins"]}}, {"subject": "Twins"}]},
]


def _note_about_twins(n: int, filters: dict[str, Any]) -> writes.WritePlan:
    link = {
        "Item_Notes_Subject": {
            "query_filters": filters,
            "link_type": "first_link",
            "action_if_none": "create_entry",
            "values_for_none_action": {"subject": "Twins"},
        }
    }
    body = {
        "model_name": "Item_Note",
        "object_values": {"note_content": f"twins {n}", "subject": {"action": "link", "values": link}},
    }
    return writes.plan_create(body, default_registry(), get_settings())


def test_concurrent_link_or_create_with_equivalent_filters_creates_one_row(
    world: World, api_env: str
) -> None:
    """GIVEN no subject "Twins" WHEN twelve Buyers at once create a note linking it with
    action_if_none create_entry, its filter spelled six equivalent ways (a value, "==", a list of
    one, "in" of one, inside "$and") THEN all answer 201, one subject "Twins" exists, and every
    note links it."""
    requests = [(_note_about_twins(n, TWINS_SPELLINGS[n % len(TWINS_SPELLINGS)]), ANNA) for n in range(12)]
    statuses = _at_once(api_env, requests)
    assert statuses == [201] * 12, statuses
    subjects = world.rows("SELECT id FROM \"Item_Notes_Subject\" WHERE subject = 'Twins'")
    assert len(subjects) == 1, subjects
    linked = world.rows("SELECT DISTINCT subject_id FROM \"Item_Note\" WHERE note_content LIKE 'twins %'")
    assert linked == subjects


def _key(filters: dict[str, Any], model: str = "Item_Notes_Subject") -> int:
    info = default_registry().model(model, "/")
    return lock_key(info, validate_filters(parse_filters(filters, "/query_filters"), info, datetime.now(UTC)))


def test_the_link_or_create_lock_is_keyed_on_what_the_filter_means() -> None:
    """Equivalent spellings share one key; another value, column, operator, grouping or model does not."""
    assert len({_key(f) for f in TWINS_SPELLINGS}) == 1
    twins = _key({"subject": "Twins"})
    others = [
        _key({"subject": "Twin"}),
        _key({"subject": ["Twins", "Twin"]}),
        _key({"subject": {"operation": "!=", "value": "Twins"}}),
        _key({"id": 1}),
        _key({"subject": "Twins", "id": 1}),
        _key({"$or": [{"subject": "Twins"}, {"id": 1}]}),
        _key({"$not": {"subject": "Twins"}}),
        _key({"dealer_name": "Twins"}, "Dealer"),
    ]
    assert twins not in others and len(set(others)) == len(others)
    assert _key({"subject": ["Twins", "Twin"]}) == _key({"subject": ["Twin", "Twins", "Twin"]})
    assert _key({"subject": "Twins", "id": 1}) == _key({"$and": [{"id": 1}, {"subject": ["Twins"]}]})
    assert _key({"$or": [{"subject": "Twins"}, {"id": 1}]}) == _key(
        {"$or": [{"id": 1}, {"subject": "Twins"}]}
    )


def _version(world: World, item: int) -> int:
    return world.scalar('SELECT row_version FROM "Item" WHERE id = :i', i=item)


def _if_match_update(item: int, expected: int, n: int) -> writes.WritePlan:
    return _update(
        {
            "model_name": "Item",
            "query_filters": {"id": item},
            "update_type": "first_match",
            "object_values": {"location": f"writer {n}"},
            "if_match": {"row_version": expected},
        }
    )


def test_concurrent_updates_with_the_same_if_match_answer_one_201_and_409s(
    world: World, api_env: str
) -> None:
    """GIVEN item 4 at version N WHEN ten Buyers send, at once, an update with if_match N (each
    its own location), for five rounds THEN exactly one answers 201, the others 409 RowChanged,
    the row went to N+1 once per round and holds the one winner's location."""
    answers: Counter[int | str] = Counter()
    for _ in range(ROUNDS):
        expected = _version(world, 4)
        statuses = _at_once(api_env, [(_if_match_update(4, expected, n), ANNA) for n in range(PARALLEL)])
        answers.update(statuses)
        assert Counter(statuses) == {201: 1, 409: PARALLEL - 1}, statuses
        assert _version(world, 4) == expected + 1
        winner = statuses.index(201)
        assert world.scalar('SELECT location FROM "Item" WHERE id = 4') == f"writer {winner}"
    assert answers == {201: ROUNDS, 409: ROUNDS * (PARALLEL - 1)}, answers


def test_concurrent_deletes_with_the_same_if_match_answer_one_201_and_409s_or_404s(
    world: World, api_env: str
) -> None:
    """GIVEN a fresh item at version N WHEN ten Buyers send, at once, delete_first with if_match N
    THEN exactly one answers 201 and the others 404 (the row is gone, as without if_match); none
    is a 500 and none deletes anything else."""
    for _ in range(ROUNDS):
        item = _new_item(world)
        expected = _version(world, item)
        body = {
            "model_name": "Item",
            "if_match": {"row_version": expected},
            "object_values": {"query_filters": {"id": item}, "deletion_type": "delete_first"},
        }
        plan = writes.plan_delete(body, default_registry(), get_settings())
        items = world.scalar('SELECT count(*) FROM "Item"')
        statuses = _at_once(api_env, [(plan, ANNA)] * PARALLEL)
        assert Counter(statuses) == {201: 1, 404: PARALLEL - 1}, statuses
        assert world.scalar('SELECT count(*) FROM "Item"') == items - 1
