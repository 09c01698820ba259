"""The write engine (docs/contract.md §4): update.

On a real PostgreSQL, against tests/fixtures/seed.py. Each test calls the service functions
`create` / `update` / `delete` directly on `db_session` (rolled back after the test) and checks the
database row by row in SQL (helpers in writes_support.py). Ids of rows created here come from
sequences that are not rolled back, so they are read from the response, never assumed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dataapi.errors import NotFound
from tests.integration.writes_support import call, refused, rows, scalar, update_item
from tests.support.engine import update
from tests.support.requests import link

pytestmark = pytest.mark.db


# ---- update -------------------------------------------------------------------------------------


def test_update_type_is_required(db_session):
    err = refused(
        update,
        db_session,
        {"model_name": "Item", "query_filters": {"id": 1}, "object_values": {"state": "Sold"}},
    )
    assert err.status == 400
    assert err.at == "/update_type"
    assert scalar(db_session, 'SELECT state FROM "Item" WHERE id = 1') == "In-Transit"


def test_update_first_match_is_the_highest_id_and_all_matches_is_all(db_session):
    in_transit = {"state": "In-Transit"}  # items 1, 2, 5, 9
    result, body = call(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": in_transit,
            "update_type": "first_match",
            "object_values": {"location": "Dock"},
        },
    )
    assert (result.status, result.message, body) == (201, "Item updated!", [])
    assert rows(db_session, "SELECT id FROM \"Item\" WHERE location = 'Dock'") == [(9,)]

    _, body = call(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": in_transit,
            "update_type": "all_matches",
            "object_values": {"location": "Quay"},
            "requested_data": ["id", "location"],
            "reference": "Incoming",
        },
    )
    assert sorted(r["id"] for r in body) == [1, 2, 5, 9]
    assert all(r["location"] == "Quay" for r in body)
    assert rows(db_session, "SELECT id FROM \"Item\" WHERE location = 'Quay' ORDER BY id") == [
        (1,),
        (2,),
        (5,),
        (9,),
    ]


def test_update_answers_updated_rows_in_the_default_order_on_every_path(db_session):
    """Same request, with and without a relationship action: the body lists the same rows in the
    same order, the default order (id DESC) that `first_match` and reads use."""
    base = {
        "model_name": "Item",
        "query_filters": {"state": "In-Transit"},
        "update_type": "all_matches",
        "requested_data": ["id"],
    }
    _, plain = call(update, db_session, {**base, "object_values": {"location": "Quay"}})
    _, with_action = call(
        update,
        db_session,
        {**base, "object_values": {"location": "Quay", "notes": link("Item_Note", {"id": 1})}},
    )
    assert [r["id"] for r in with_action] == [9, 5, 2, 1]
    assert [r["id"] for r in plain] == [9, 5, 2, 1]


def test_update_with_empty_filters_needs_allow_all(db_session):
    raw = {"model_name": "Item", "update_type": "all_matches", "object_values": {"location": "Everywhere"}}
    err = refused(update, db_session, raw)
    assert err.status == 400
    assert err.at == "/query_filters"
    err = refused(update, db_session, {**raw, "query_filters": {}})
    assert err.status == 400
    assert scalar(db_session, "SELECT count(*) FROM \"Item\" WHERE location = 'Everywhere'") == 0

    call(update, db_session, {**raw, "allow_all": True})
    assert scalar(db_session, "SELECT count(*) FROM \"Item\" WHERE location = 'Everywhere'") == 12


def test_update_nothing_matched_is_404(db_session):
    for values in ({"location": "X"}, {"notes": link("Item_Note", {"id": 1})}, {}):
        err = refused(
            update,
            db_session,
            {
                "model_name": "Item",
                "query_filters": {"state": "Lost"},
                "update_type": "all_matches",
                "object_values": values,
            },
        )
        assert isinstance(err, NotFound)
        assert err.status == 404
        assert err.at == "/query_filters"


def test_update_returns_requested_data_with_relationships(db_session):
    _, body = update_item(
        db_session,
        3,
        {"valuation": 2600, "properties": {"color": "oak", "extendable": False}},
        requested_data=["id", "valuation", "properties", {"dealer": ["dealer_name"]}, "notes.id"],
    )
    assert body == [
        {
            "id": 3,
            "valuation": 2600,
            "properties": {"color": "oak", "extendable": False},
            "dealer": {"dealer_name": "Karin Lund"},
            "notes": [{"id": 3}, {"id": 4}],
        }
    ]


def test_update_resending_the_rows_own_id_keeps_the_id(db_session):
    update_item(db_session, 5, {"id": 5, "location": "Hall C"})
    assert rows(db_session, 'SELECT id, location FROM "Item" WHERE id = 5') == [(5, "Hall C")]
    update_item(db_session, 5, {"id": 999, "location": "Hall D", "created_at": "2020-01-01T00:00:00Z"})
    assert rows(db_session, 'SELECT id, location FROM "Item" WHERE id = 5') == [(5, "Hall D")]
    assert scalar(db_session, 'SELECT count(*) FROM "Item" WHERE id = 999') == 0
    assert scalar(db_session, 'SELECT created_at FROM "Item" WHERE id = 5') == datetime(
        2025, 11, 7, 13, tzinfo=UTC
    )
    # Only server-managed columns sent: the row matched, nothing changed, still a success.
    result, _ = update_item(db_session, 5, {"id": 5})
    assert result.status == 201


def test_update_through_a_relationship_filter(db_session):
    call(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": {"notes.subject.subject": "Restoration"},  # items 1, 2, 5, 8
            "update_type": "all_matches",
            "object_values": {"location": "Workshop"},
        },
    )
    assert rows(db_session, "SELECT id FROM \"Item\" WHERE location = 'Workshop' ORDER BY id") == [
        (1,),
        (2,),
        (5,),
        (8,),
    ]


def test_update_through_to_one_paths_and_json_paths(db_session):
    base = {"model_name": "Item", "update_type": "all_matches"}
    call(
        update,
        db_session,
        {
            **base,
            "query_filters": {"dealer.dealer_name": "Karin Lund"},
            "object_values": {"location": "Uppsala"},
        },
    )
    assert rows(db_session, "SELECT id FROM \"Item\" WHERE location = 'Uppsala' ORDER BY id") == [(3,), (4,)]
    call(
        update,
        db_session,
        {**base, "query_filters": {"dealer.id": None}, "object_values": {"location": "No dealer"}},
    )
    assert rows(db_session, "SELECT id FROM \"Item\" WHERE location = 'No dealer' ORDER BY id") == [
        (9,),
        (12,),
    ]
    call(
        update,
        db_session,
        {
            **base,
            "query_filters": {"properties.set_of": {"operation": ">", "value": 5}},
            "object_values": {"location": "Sets"},
        },
    )
    assert rows(db_session, "SELECT id FROM \"Item\" WHERE location = 'Sets' ORDER BY id") == [(1,), (5,)]


def test_update_json_and_null_values(db_session):
    update_item(db_session, 4, {"missing_parts": None, "issues": [], "valuation": None})
    assert rows(
        db_session,
        'SELECT missing_parts IS NULL, issues, valuation FROM "Item" WHERE id = 4',
    ) == [(True, [], None)]
