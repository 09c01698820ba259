"""Counters maintained by PostgreSQL triggers (migrations/versions/0002_counters.py).

- Dealer.item_count: the set counts of the dealer's items (properties.set_of, else "Set Of", else 1);
- Dealer.purchased_count: the sum of purchased_price times that count;
- Item_Notes_Subject.notes_counter: the Items_Notes links whose note has that subject.

Every path that changes them is exercised in plain SQL on a real database (single rows, set-based
statements, cascades, two connections at once), and once through the write engine. After every
step the counters are compared with a recount from scratch (`expected`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from dataapi.registry import default_registry
from dataapi.settings import Settings
from devtools.migrate import downgrade, upgrade
from tests.support.engine import create, update

pytestmark = pytest.mark.db

RECOUNT_DEALERS = """
    WITH counted AS (
        SELECT dealer_id, purchased_price,
               COALESCE((properties ->> 'set_of')::numeric, (properties ->> 'Set Of')::numeric, 1) AS n
          FROM "Item")
    SELECT d.id, d.item_count, d.purchased_count,
           (SELECT COALESCE(sum(n), 0) FROM counted c WHERE c.dealer_id = d.id),
           (SELECT COALESCE(sum(COALESCE(purchased_price, 0) * n), 0) FROM counted c WHERE c.dealer_id = d.id)
      FROM "Dealer" d ORDER BY d.id
"""
RECOUNT_SUBJECTS = """
    SELECT s.id, s.notes_counter,
           (SELECT count(*) FROM "Items_Notes" l JOIN "Item_Note" n ON n.id = l.note_id WHERE n.subject_id = s.id)
      FROM "Item_Notes_Subject" s ORDER BY s.id
"""


@pytest.fixture
def engine(fresh_db: str) -> Iterator[Engine]:
    eng = create_engine(fresh_db, poolclass=NullPool)
    yield eng
    eng.dispose()


def sql(conn: Connection, statement: str, **params: Any) -> Any:
    return conn.execute(text(statement), params)


def one(conn: Connection, statement: str, **params: Any) -> Any:
    return conn.execute(text(statement), params).scalar_one()


def insert(conn: Connection, table: str, **values: Any) -> int:
    cols = ", ".join(f'"{k}"' for k in values)
    marks = ", ".join(f"CAST(:{k} AS jsonb)" if k == "properties" else f":{k}" for k in values)
    params = {k: json.dumps(v) if k == "properties" else v for k, v in values.items()}
    return one(conn, f'INSERT INTO "{table}" ({cols}) VALUES ({marks}) RETURNING id', **params)


def dealer(conn: Connection, dealer_id: int) -> tuple[int, int]:
    return tuple(
        sql(conn, 'SELECT item_count, purchased_count FROM "Dealer" WHERE id = :i', i=dealer_id).one()
    )  # type: ignore[return-value]


def subject(conn: Connection, subject_id: int) -> int:
    return one(conn, 'SELECT notes_counter FROM "Item_Notes_Subject" WHERE id = :i', i=subject_id)


def assert_consistent(conn: Connection) -> None:
    """Every counter equals a recount from scratch."""
    for row in sql(conn, RECOUNT_DEALERS):
        assert (row[1], row[2]) == (row[3], row[4]), row
    for row in sql(conn, RECOUNT_SUBJECTS):
        assert row[1] == row[2], row


# ---- items and dealers ---------------------------------------------------------------------------


def test_set_counts_and_prices_add_up_on_create(engine: Engine) -> None:
    """GIVEN a dealer WHEN items are inserted with set_of, "Set Of", a numeric string, no count, no
    price, and one without a dealer THEN item_count counts sets and purchased_count price x count."""
    with engine.begin() as conn:
        d = insert(conn, "Dealer", dealer_name="Karin")
        insert(conn, "Item", dealer_id=d, purchased_price=100, properties={"set_of": 4})
        insert(conn, "Item", dealer_id=d, purchased_price=50, properties={"Set Of": 3})
        insert(conn, "Item", dealer_id=d, purchased_price=10, properties={"set_of": "2"})
        insert(conn, "Item", dealer_id=d, purchased_price=7, properties={"color": "oak"})
        insert(conn, "Item", dealer_id=d, properties={"set_of": 6})
        insert(conn, "Item", purchased_price=1000)

        assert dealer(conn, d) == (4 + 3 + 2 + 1 + 6, 400 + 150 + 20 + 7)
        assert_consistent(conn)


def test_updates_of_dealer_price_and_set_size_move_the_counts(engine: Engine) -> None:
    with engine.begin() as conn:
        a, b = insert(conn, "Dealer", dealer_name="A"), insert(conn, "Dealer", dealer_name="B")
        item = insert(conn, "Item", dealer_id=a, purchased_price=100, properties={"set_of": 2})
        assert (dealer(conn, a), dealer(conn, b)) == ((2, 200), (0, 0))

        sql(conn, 'UPDATE "Item" SET dealer_id = :b WHERE id = :i', b=b, i=item)
        assert (dealer(conn, a), dealer(conn, b)) == ((0, 0), (2, 200))

        sql(conn, 'UPDATE "Item" SET purchased_price = 150 WHERE id = :i', i=item)
        assert dealer(conn, b) == (2, 300)

        sql(conn, """UPDATE "Item" SET properties = '{"set_of": 5}' WHERE id = :i""", i=item)
        assert dealer(conn, b) == (5, 750)

        sql(conn, """UPDATE "Item" SET properties = '{"Set Of": 3}' WHERE id = :i""", i=item)
        assert dealer(conn, b) == (3, 450)

        sql(conn, "UPDATE \"Item\" SET state = 'In-Transit' WHERE id = :i", i=item)  # no counter column
        assert dealer(conn, b) == (3, 450)

        sql(conn, 'UPDATE "Item" SET dealer_id = NULL WHERE id = :i', i=item)
        assert dealer(conn, b) == (0, 0)
        assert_consistent(conn)


def test_deleting_items_and_dealers(engine: Engine) -> None:
    with engine.begin() as conn:
        a = insert(conn, "Dealer", dealer_name="A")
        keep = insert(conn, "Item", dealer_id=a, purchased_price=10)
        gone = insert(conn, "Item", dealer_id=a, purchased_price=20, properties={"set_of": 3})
        sql(conn, 'DELETE FROM "Item" WHERE id = :i', i=gone)
        assert dealer(conn, a) == (1, 10)

        sql(conn, 'DELETE FROM "Dealer" WHERE id = :a', a=a)  # items keep living, dealer_id SET NULL
        assert one(conn, 'SELECT dealer_id FROM "Item" WHERE id = :i', i=keep) is None
        assert_consistent(conn)


def test_set_based_statements(engine: Engine) -> None:
    """GIVEN three dealers WHEN one INSERT ... SELECT adds 30 items, one UPDATE moves a third of
    them and reprices all, one DELETE removes another third THEN the counters are a recount."""
    with engine.begin() as conn:
        ids = [insert(conn, "Dealer", dealer_name=n) for n in ("A", "B", "C")]
        sql(
            conn,
            'INSERT INTO "Item" (dealer_id, purchased_price, properties) '
            "SELECT (ARRAY[CAST(:a AS integer), CAST(:b AS integer)])[1 + mod(g, 2)], g * 10, jsonb_build_object('set_of', 1 + mod(g, 4)) "
            "FROM generate_series(1, 30) AS g",
            a=ids[0],
            b=ids[1],
        )
        assert_consistent(conn)
        assert dealer(conn, ids[0])[0] + dealer(conn, ids[1])[0] == sum(1 + g % 4 for g in range(1, 31))

        sql(conn, 'UPDATE "Item" SET dealer_id = :c WHERE mod(purchased_price, 30) = 0', c=ids[2])
        sql(conn, 'UPDATE "Item" SET purchased_price = purchased_price + 1')
        assert_consistent(conn)
        assert dealer(conn, ids[2])[0] == sum(1 + g % 4 for g in range(3, 31, 3))

        sql(conn, 'DELETE FROM "Item" WHERE mod(purchased_price, 3) = 1')
        assert_consistent(conn)


# ---- notes and subjects --------------------------------------------------------------------------


def test_links_unlinks_subject_changes_and_deletes(engine: Engine) -> None:
    with engine.begin() as conn:
        s1, s2 = (
            insert(conn, "Item_Notes_Subject", subject="Condition"),
            insert(conn, "Item_Notes_Subject", subject="Pricing"),
        )
        items = [insert(conn, "Item", article_number=f"A{i}") for i in range(3)]
        note = insert(conn, "Item_Note", note_content="Loose leg", subject_id=s1)
        other = insert(conn, "Item_Note", note_content="No subject")
        assert subject(conn, s1) == 0  # a note counts through its links

        for item in items:
            sql(conn, 'INSERT INTO "Items_Notes" (item_id, note_id) VALUES (:i, :n)', i=item, n=note)
        sql(conn, 'INSERT INTO "Items_Notes" (item_id, note_id) VALUES (:i, :n)', i=items[0], n=other)
        assert (subject(conn, s1), subject(conn, s2)) == (3, 0)

        sql(
            conn, 'DELETE FROM "Items_Notes" WHERE item_id = :i AND note_id = :n', i=items[2], n=note
        )  # unlink
        assert subject(conn, s1) == 2

        sql(conn, 'UPDATE "Item_Note" SET subject_id = :s WHERE id = :n', s=s2, n=note)
        assert (subject(conn, s1), subject(conn, s2)) == (0, 2)

        sql(conn, 'UPDATE "Item_Note" SET subject_id = :s WHERE id = :n', s=s1, n=other)
        assert (subject(conn, s1), subject(conn, s2)) == (1, 2)

        sql(
            conn,
            'UPDATE "Items_Notes" SET note_id = :o WHERE item_id = :i AND note_id = :n',
            o=other,
            i=items[1],
            n=note,
        )
        assert (subject(conn, s1), subject(conn, s2)) == (2, 1)

        sql(conn, 'DELETE FROM "Item" WHERE id = :i', i=items[0])  # its links go by cascade
        assert (subject(conn, s1), subject(conn, s2)) == (1, 0)
        assert_consistent(conn)

        sql(conn, 'DELETE FROM "Item_Note" WHERE id = :o', o=other)  # the note and its links
        assert subject(conn, s1) == 0
        assert_consistent(conn)


def test_set_based_note_statements(engine: Engine) -> None:
    with engine.begin() as conn:
        subjects = [insert(conn, "Item_Notes_Subject", subject=f"S{i}") for i in range(3)]
        sql(conn, "INSERT INTO \"Item\" (article_number) SELECT 'A' || g FROM generate_series(1, 10) g")
        sql(
            conn,
            'INSERT INTO "Item_Note" (note_content, subject_id) '
            "SELECT 'n' || g, (ARRAY[CAST(:a AS integer), CAST(:b AS integer), CAST(:c AS integer)])[1 + mod(g, 3)] FROM generate_series(1, 12) g",
            a=subjects[0],
            b=subjects[1],
            c=subjects[2],
        )
        sql(
            conn,
            'INSERT INTO "Items_Notes" (item_id, note_id) SELECT i.id, n.id FROM "Item" i, "Item_Note" n WHERE mod(i.id + n.id, 4) = 0',
        )
        assert_consistent(conn)
        sql(conn, 'UPDATE "Item_Note" SET subject_id = :a WHERE mod(id, 2) = 0', a=subjects[0])
        assert_consistent(conn)
        sql(conn, 'DELETE FROM "Items_Notes" WHERE mod(item_id, 3) = 0')
        assert_consistent(conn)
        sql(conn, 'DELETE FROM "Item_Note" WHERE mod(id, 5) = 0')
        assert_consistent(conn)
        sql(
            conn, 'DELETE FROM "Item_Notes_Subject" WHERE id = :b', b=subjects[1]
        )  # notes keep living, no subject
        assert_consistent(conn)
        sql(conn, 'DELETE FROM "Item" WHERE mod(id, 2) = 1')
        assert_consistent(conn)


# ---- the database owns the counters --------------------------------------------------------------


def test_counters_cannot_be_written_directly(engine: Engine) -> None:
    """GIVEN a dealer and a subject inserted with counters, and updated with other counters
    THEN the stored counters are what the triggers count (0 here), whatever was sent."""
    with engine.begin() as conn:
        d = one(
            conn,
            "INSERT INTO \"Dealer\" (dealer_name, item_count, purchased_count) VALUES ('X', 5, 500) RETURNING id",
        )
        s = one(
            conn, "INSERT INTO \"Item_Notes_Subject\" (subject, notes_counter) VALUES ('Y', 9) RETURNING id"
        )
        assert (dealer(conn, d), subject(conn, s)) == ((0, 0), 0)
        insert(conn, "Item", dealer_id=d, purchased_price=5)
        sql(
            conn,
            "UPDATE \"Dealer\" SET item_count = 99, purchased_count = 99, dealer_name = 'Z' WHERE id = :d",
            d=d,
        )
        sql(conn, 'UPDATE "Item_Notes_Subject" SET notes_counter = 99 WHERE id = :s', s=s)
        assert (dealer(conn, d), subject(conn, s)) == ((1, 5), 0)
        assert one(conn, 'SELECT dealer_name FROM "Dealer" WHERE id = :d', d=d) == "Z"


def test_through_the_write_engine(engine: Engine) -> None:
    """GIVEN the API's create and update WHEN an item is created linked to a dealer with a note of a
    subject, then its set size changes, and a client sends counters
    THEN the responses show the counts the triggers keep; sent counters are ignored."""
    settings = Settings()
    with Session(engine) as session, session.begin():
        made = create(session, {"model_name": "Dealer", "object_values": {"dealer_name": "K", "item_count": 40},
                                "requested_data": ["id", "item_count"]}, "clerk", default_registry(), settings)  # fmt: skip
        (dealer_row,) = json.loads(made.body)
        assert dealer_row["item_count"] == 0
        body = {
            "model_name": "Item",
            "object_values": {
                "purchased_price": 200,
                "properties": {"set_of": 3},
                "dealer": {"action": "link", "values": {"Dealer": {"query_filters": {"id": dealer_row["id"]},
                                                                  "link_type": "first_link"}}},
                "notes": {"action": "create", "sub_model_name": "Item_Note", "values": [{
                    "note_content": "Scratches",
                    "subject": {"action": "link", "values": {"Item_Notes_Subject": {
                        "query_filters": {"subject": "Condition"}, "link_type": "first_link",
                        "action_if_none": "create_entry",
                        "values_for_none_action": {"subject": "Condition", "notes_counter": 7}}}}}]},
            },
            "requested_data": ["id", {"dealer": ["item_count", "purchased_count"]},
                               {"notes": [{"subject": ["notes_counter"]}]}],
        }  # fmt: skip
        (item,) = json.loads(create(session, body, "clerk", default_registry(), settings).body)
        assert item["dealer"] == {"item_count": 3, "purchased_count": 600}
        assert item["notes"] == [{"subject": {"notes_counter": 1}}]

        changed = update(
            session,
            {"model_name": "Item", "query_filters": {"id": item["id"]}, "update_type": "first_match",
             "object_values": {"properties": {"set_of": 4}, "dealer": {"action": "create_through_rel",
                                                                        "values": {"item_count": 1}}},
             "requested_data": [{"dealer": ["item_count", "purchased_count"]}]},
            "clerk", default_registry(), settings,
        )  # fmt: skip
        assert json.loads(changed.body)[0]["dealer"] == {"item_count": 4, "purchased_count": 800}
        assert_consistent(session.connection())


# ---- concurrent writers --------------------------------------------------------------------------


def _wait_until_blocked(engine: Engine, pid: int) -> None:
    """Until the backend `pid` waits for a lock (polled; the test asserts no time)."""
    with engine.connect() as watcher:
        for _ in range(2000):
            waiting = watcher.execute(
                text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
            ).scalar()
            if waiting:
                return
            watcher.execute(text("SELECT pg_sleep(0.005)"))
    raise AssertionError("the second writer never waited for the first")


def test_two_connections_adding_to_one_dealer_both_count(engine: Engine) -> None:
    """GIVEN a dealer WHEN connection A adds an item and holds its transaction open, and connection
    B adds another (B waits on the dealer's row) THEN after both commit both items are counted:
    the increments are atomic, not read-modify-write."""
    with engine.begin() as conn:
        d = insert(conn, "Dealer", dealer_name="Shared")
    first, second = engine.connect(), engine.connect()
    try:
        first.begin()
        insert(first, "Item", dealer_id=d, purchased_price=100, properties={"set_of": 2})
        second_pid = second.execute(text("SELECT pg_backend_pid()")).scalar_one()
        second.rollback()  # end the autobegun transaction: the thread begins its own
        errors: list[BaseException] = []

        def add_second() -> None:
            try:
                with second.begin():
                    insert(second, "Item", dealer_id=d, purchased_price=10, properties={"set_of": 5})
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        thread = threading.Thread(target=add_second)
        thread.start()
        _wait_until_blocked(engine, second_pid)
        first.commit()
        thread.join(60)
        assert errors == [] and not thread.is_alive()
    finally:
        first.close()
        second.close()
    with engine.connect() as conn:
        assert dealer(conn, d) == (7, 250)


def test_many_concurrent_increments_are_exact(engine: Engine) -> None:
    """GIVEN two dealers WHEN four connections each add 25 items and notes alternating between
    them, committing each statement THEN the counters are exactly the recount."""
    with engine.begin() as conn:
        dealers = [insert(conn, "Dealer", dealer_name=n) for n in ("A", "B")]
        subj = insert(conn, "Item_Notes_Subject", subject="Condition")
        note = insert(conn, "Item_Note", note_content="shared", subject_id=subj)
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            with engine.connect() as conn:
                for n in range(25):
                    with conn.begin():
                        item = insert(conn, "Item", dealer_id=dealers[(worker + n) % 2], purchased_price=n,
                                      properties={"set_of": 1 + n % 3})  # fmt: skip
                        sql(
                            conn,
                            'INSERT INTO "Items_Notes" (item_id, note_id) VALUES (:i, :n)',
                            i=item,
                            n=note,
                        )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with engine.connect() as conn:
        assert_consistent(conn)
        assert subject(conn, subj) == 100
        assert sum(dealer(conn, d)[0] for d in dealers) == 4 * sum(1 + n % 3 for n in range(25))


# ---- the migration: backfill and downgrade ------------------------------------------------------


def test_the_migration_backfills_existing_rows_and_its_downgrade_removes_the_triggers(
    fresh_db: str, engine: Engine
) -> None:
    """GIVEN a database at 0001 with rows whose counters are stale (as the old backend left them)
    WHEN upgraded to 0002 THEN every counter is recounted; WHEN downgraded to 0001 THEN no trigger
    or function of 0002 is left and writes no longer touch the counters."""
    downgrade(fresh_db, "0001")
    with engine.begin() as conn:
        d = one(
            conn,
            "INSERT INTO \"Dealer\" (dealer_name, item_count, purchased_count) VALUES ('Old', 42, NULL) RETURNING id",
        )
        s = one(
            conn,
            "INSERT INTO \"Item_Notes_Subject\" (subject, notes_counter) VALUES ('Old', 17) RETURNING id",
        )
        item = insert(conn, "Item", dealer_id=d, purchased_price=300, properties={"Set Of": 2})
        insert(conn, "Item", dealer_id=d, purchased_price=None)
        n = insert(conn, "Item_Note", note_content="x", subject_id=s)
        sql(conn, 'INSERT INTO "Items_Notes" (item_id, note_id) VALUES (:i, :n)', i=item, n=n)
        assert dealer(conn, d) == (42, None)

    upgrade(fresh_db)
    with engine.begin() as conn:
        assert (dealer(conn, d), subject(conn, s)) == ((3, 600), 1)
        assert_consistent(conn)

    downgrade(fresh_db, "0001")
    with engine.begin() as conn:
        left = one(conn, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'dataapi\\_%'")
        triggers = one(conn, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")
        assert (left, triggers) == (0, 0)
        insert(conn, "Item", dealer_id=d, purchased_price=1)
        assert dealer(conn, d) == (3, 600)
    upgrade(fresh_db)
