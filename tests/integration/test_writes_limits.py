"""The write engine (docs/contract.md §4): limits, and the set-based fast paths (statement counts).

On a real PostgreSQL, against tests/fixtures/seed.py. Each test calls the service functions
`create` / `update` / `delete` directly on `db_session` (rolled back after the test) and checks the
database row by row in SQL (helpers in writes_support.py). Ids of rows created here come from
sequences that are not rolled back, so they are read from the response, never assumed.
"""

from __future__ import annotations

import re

import pytest

from dataapi.errors import LimitExceeded
from dataapi.settings import Settings
from tests.integration.writes_support import (
    SERVICES,
    call,
    counts,
    delete_rows,
    refused,
    rows,
    scalar,
    statements,
)
from tests.support.engine import create, delete, update
from tests.support.requests import append_history, history_entry, link

pytestmark = pytest.mark.db


# ---- limits -------------------------------------------------------------------------------------


def test_batch_over_max_batch_is_refused(db_session):
    settings = Settings(max_batch=2)
    one = {"model_name": "Dealer", "object_values": {"dealer_name": "D"}}
    call(create, db_session, [one, one], settings)
    for service, member in (
        (create, one),
        (
            update,
            {
                "model_name": "Dealer",
                "query_filters": {"id": 1},
                "update_type": "first_match",
                "object_values": {"age": 1},
            },
        ),
        (
            delete,
            {
                "model_name": "Dealer",
                "object_values": {"query_filters": {"id": 1}, "deletion_type": "delete_first"},
            },
        ),
    ):
        err = refused(service, db_session, [member] * 3, settings)
        assert isinstance(err, LimitExceeded)
        assert err.status == 400
        assert err.at == "/"
        assert "limit=batch" in err.server_message
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer"') == 7
    assert refused(create, db_session, []).status == 400  # an empty batch


def test_list_over_max_rows_per_list_is_refused(db_session):
    settings = Settings(max_rows_per_list=3)
    rows_ = [{"subject": str(i)} for i in range(4)]
    err = refused(create, db_session, {"model_name": "Item_Notes_Subject", "object_values": rows_}, settings)
    assert err.status == 400
    assert err.at == "/object_values"
    assert "limit=rows_per_list" in err.server_message
    err = refused(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": {"id": 1},
            "update_type": "first_match",
            "object_values": {
                "item_history": append_history(*[history_entry("x", i, i + 1) for i in range(4)])
            },
        },
        settings,
    )
    assert err.status == 400
    assert err.at == "/object_values/item_history/values"
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Notes_Subject"') == 4
    call(create, db_session, {"model_name": "Item_Notes_Subject", "object_values": rows_[:3]}, settings)


@pytest.mark.parametrize(
    ("service", "raw"),
    [
        (
            "create",
            {"model_name": "Item_Notes_Subject", "object_values": [{"subject": str(i)} for i in range(4)]},
        ),
        (
            "update",
            {
                "model_name": "Item",
                "query_filters": {"state": "In-Transit"},
                "update_type": "all_matches",
                "object_values": {"location": "Dock"},
            },
        ),
        (
            "update",
            {
                "model_name": "Item",
                "query_filters": {"state": "In-Transit"},
                "update_type": "all_matches",
                "object_values": {"notes": link("Item_Note", {"id": 1})},
            },
        ),
        (
            "update",
            {
                "model_name": "Item",
                "query_filters": {"id": 9},
                "update_type": "first_match",
                "object_values": {
                    "notes": link("Item_Note", {"id": {"operation": "<", "value": 5}}, "all_link")
                },
            },
        ),
        (
            "update",
            {
                "model_name": "Item_Note",
                "query_filters": {"id": 2},
                "update_type": "first_match",
                "object_values": {"items": {"action": "create_through_rel", "values": {"state": "X"}}},
            },
        ),
        (
            "delete",
            {
                "model_name": "Item",
                "object_values": {"query_filters": {"state": "In-Transit"}, "deletion_type": "delete_all"},
            },
        ),
    ],
    ids=["create", "update", "update-orm", "link", "through", "delete"],
)
def test_rows_touched_over_the_limit_is_refused_and_nothing_is_kept(db_session, service, raw):
    before = counts(db_session)
    fingerprint = rows(db_session, 'SELECT id, state, location FROM "Item" ORDER BY id')
    err = refused(SERVICES[service], db_session, raw, Settings(max_rows_touched=3))
    assert isinstance(err, LimitExceeded)
    assert err.status == 400
    assert "limit=rows_touched max=3" in err.server_message
    db_session.rollback()  # the request's transaction is rolled back on any error
    assert counts(db_session) == before
    assert rows(db_session, 'SELECT id, state, location FROM "Item" ORDER BY id') == fingerprint


def test_create_over_rows_touched_writes_nothing_at_all(db_session):
    with statements(db_session) as seen:
        err = refused(
            create,
            db_session,
            {"model_name": "Item_Notes_Subject", "object_values": [{"subject": str(i)} for i in range(4)]},
            Settings(max_rows_touched=3),
        )
    assert err.status == 400
    assert not [s for s in seen if s.lstrip().upper().startswith("INSERT")]


# ---- set-based fast paths (statement counts) ----------------------------------------------------


def _is(sql: str, verb: str) -> bool:
    """`sql` is one `verb` statement, possibly led by a WITH clause."""
    return re.match(rf"\s*(WITH\b.*\)\s*)?{verb}\b", sql, re.S | re.I) is not None


def test_creating_1000_plain_items_is_one_insert(db_session):
    values = [{"article_number": f"B-{i:04d}", "category": "Bulk", "purchased_price": i} for i in range(1000)]
    with statements(db_session) as seen:
        _, body = call(create, db_session, {"model_name": "Item", "object_values": values})
    assert body == [{}] * 1000
    assert len(seen) == 1
    assert seen[0].lstrip().upper().startswith("INSERT")
    assert scalar(db_session, "SELECT count(*) FROM \"Item\" WHERE category = 'Bulk'") == 1000
    assert scalar(db_session, "SELECT sum(purchased_price) FROM \"Item\" WHERE category = 'Bulk'") == sum(
        range(1000)
    )


def test_creating_plain_rows_answers_ids_in_request_order(db_session):
    values = [{"article_number": f"O-{i:04d}"} for i in range(300)]
    _, body = call(
        create,
        db_session,
        {"model_name": "Item", "object_values": values, "requested_data": ["id", "article_number"]},
    )
    assert [r["article_number"] for r in body] == [v["article_number"] for v in values]
    assert [r["id"] for r in body] == sorted(r["id"] for r in body)


def test_all_matches_update_of_plain_columns_is_one_update(db_session):
    with statements(db_session) as seen:
        call(
            update,
            db_session,
            {
                "model_name": "Item",
                "query_filters": {"category": {"operation": "in", "value": ["Chair", "Sofa"]}},
                "update_type": "all_matches",
                "object_values": {"location": "Showroom", "metafields": {"sale": True}},
            },
        )
    assert len(seen) == 1
    assert _is(seen[0], "UPDATE")  # its WITH bounds the matches against the budget (bounds.guarded)
    assert rows(db_session, "SELECT id FROM \"Item\" WHERE location = 'Showroom' ORDER BY id") == [
        (1,),
        (2,),
        (4,),
        (5,),
        (10,),
        (11,),
    ]


def test_delete_all_without_also_do_is_one_delete(db_session):
    with statements(db_session) as seen:
        delete_rows(db_session, "Item", {"state": "Sold"}, "delete_all")  # 7, 8, 11
    assert len(seen) == 1
    assert _is(seen[0], "DELETE")
    assert scalar(db_session, 'SELECT count(*) FROM "Item"') == 9
    assert scalar(db_session, 'SELECT count(*) FROM "Item_History" WHERE item_id IN (7, 8, 11)') == 0
