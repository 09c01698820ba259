"""Concurrent identical writes: links are idempotent, link-or-create creates one row.

Twenty threads, each with its own connection and transaction, run the same write through the
engine at once (a barrier releases them together); every join is bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from dataapi import writes
from dataapi.registry import default_registry
from dataapi.settings import get_settings
from tests.adversarial.support import World

THREADS = 20


def _all_at_once(url: str, write: Callable[[Session], Any]) -> list[BaseException | None]:
    engine = create_engine(url, poolclass=NullPool)
    barrier = threading.Barrier(THREADS, timeout=30)
    outcomes: list[BaseException | None] = [None] * THREADS

    def run(i: int) -> None:
        try:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                session.connection()
                barrier.wait()
                write(session)
        except BaseException as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    engine.dispose()
    return outcomes


def test_concurrent_identical_links_all_succeed_and_link_once(world: World, api_env: str) -> None:
    with world.engine.begin() as conn:
        note = conn.exec_driver_sql(
            "INSERT INTO \"Item_Note\" (note_content) VALUES ('shared') RETURNING id"
        ).scalar()
    body = {
        "model_name": "Item",
        "query_filters": {"id": 12},
        "update_type": "first_match",
        "object_values": {
            "notes": {
                "action": "link",
                "values": {"Item_Note": {"query_filters": {"id": note}, "link_type": "all_link"}},
            }
        },
    }
    plan = writes.plan_update(body, default_registry(), get_settings())
    outcomes = _all_at_once(api_env, lambda session: plan.run(session, actor="admin", auth=None, hooks={}))
    assert outcomes == [None] * THREADS, [repr(o) for o in outcomes if o]
    assert world.rows('SELECT item_id FROM "Items_Notes" WHERE note_id = :n', n=note) == [(12,)]


def test_concurrent_link_or_create_with_one_filter_creates_one_row(world: World, api_env: str) -> None:
    name = "Nytt Dödsbo Ekström"
    link = {
        "action": "link",
        "values": {
            "Dealer": {
                "query_filters": {"dealer_name": name},
                "link_type": "first_link",
                "action_if_none": "create_entry",
                "values_for_none_action": {"dealer_name": name, "dealer_type": "Estate"},
            }
        },
    }
    body = {"model_name": "Item", "object_values": {"article_number": "2601-race", "dealer": link}}
    plan = writes.plan_create(body, default_registry(), get_settings())
    outcomes = _all_at_once(api_env, lambda session: plan.run(session, actor="admin", auth=None, hooks={}))
    assert outcomes == [None] * THREADS, [repr(o) for o in outcomes if o]
    dealers = world.rows('SELECT id FROM "Dealer" WHERE dealer_name = :n', n=name)
    assert len(dealers) == 1
    linked = world.rows("SELECT DISTINCT dealer_id FROM \"Item\" WHERE article_number = '2601-race'")
    assert linked == [dealers[0]]
    assert world.scalar("SELECT count(*) FROM \"Item\" WHERE article_number = '2601-race'") == THREADS


def test_only_the_orm_s_link_table_inserts_skip_existing_pairs() -> None:
    """The ORM inserts link rows with the link table's insert(): that one skips existing pairs;
    every other INSERT (into a link table written out, into any other table) compiles as written."""
    from sqlalchemy import insert
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from dataapi.models import Item
    from dataapi.models.purchase import Items_Notes, user_roles

    dialect = postgresql.dialect()
    assert str(Items_Notes.insert().compile(dialect=dialect)).endswith(" ON CONFLICT DO NOTHING")
    assert str(user_roles.insert().compile(dialect=dialect)).endswith(" ON CONFLICT DO NOTHING")
    assert "ON CONFLICT" not in str(insert(Items_Notes).compile(dialect=dialect))
    explicit = str(
        pg_insert(user_roles)
        .on_conflict_do_update(index_elements=["user_id", "role_id"], set_={"role_id": 1})
        .compile(dialect=dialect)
    )
    assert explicit.count("ON CONFLICT") == 1 and "DO UPDATE" in explicit
    assert "ON CONFLICT" not in str(insert(Item.__table__).compile(dialect=dialect))
    assert "ON CONFLICT" not in str(Item.__table__.insert().compile(dialect=dialect))
