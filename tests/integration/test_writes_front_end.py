"""The write engine (docs/contract.md §4): the front end's write flows.

On a real PostgreSQL, against tests/fixtures/seed.py. Each test calls the service functions
`create` / `update` / `delete` directly on `db_session` (rolled back after the test) and checks the
database row by row in SQL (helpers in writes_support.py). Ids of rows created here come from
sequences that are not rolled back, so they are read from the response, never assumed.
"""

from __future__ import annotations

import pytest

from tests.integration.writes_support import ACTOR, call, history, note_items, rows, scalar
from tests.support.engine import create, delete, update
from tests.support.requests import append_history, front_end_note, history_entry, link

pytestmark = pytest.mark.db


# ---- the front end's flows ----------------------------------------------------------------------


def test_front_end_creates_an_item_linked_to_a_dealer_with_json_fields(db_session):
    result, body = call(
        create,
        db_session,
        {
            "model_name": "Item",
            "reference": "Item 2512-008",
            "requested_data": [
                "id",
                "article_number",
                "properties",
                "dimensions",
                "issues",
                "parts",
                "images",
                "created_by",
                {"dealer": ["id", "dealer_name"]},
                {"item_history": ["column_name", "to_value", "user_name"]},
            ],
            "object_values": {
                "article_number": "2512-008",
                "category": "Chair",
                "type": "Dining chair",
                "state": "In-Transit",
                "purchased_price": 700,
                "valuation": 1600,
                "properties": {"set_of": 2, "color": "oak"},
                "dimensions": {"width": 45, "depth": 50, "height": 90},
                "issues": [{"part": "leg", "issue": "wobbly"}],
                "parts": ["seat", "backrest", "legs"],
                "images": ["PurchaseAppReact/2512-008/1.jpg", "PurchaseAppReact/2512-008/2.jpg"],
                "dealer": link("Dealer", {"id": 2}),
                "item_history": append_history(history_entry("state", None, "In-Transit", type="create")),
            },
        },
    )
    assert (result.status, result.message) == (201, "Item 2512-008 created!")
    [item] = body
    assert item == {
        "id": item["id"],
        "article_number": "2512-008",
        "properties": {"set_of": 2, "color": "oak"},
        "dimensions": {"width": 45, "depth": 50, "height": 90},
        "issues": [{"part": "leg", "issue": "wobbly"}],
        "parts": ["seat", "backrest", "legs"],
        "images": ["PurchaseAppReact/2512-008/1.jpg", "PurchaseAppReact/2512-008/2.jpg"],
        "created_by": ACTOR,
        "dealer": {"id": 2, "dealer_name": "Karin Lund"},
        "item_history": [{"column_name": "state", "to_value": "In-Transit", "user_name": ACTOR}],
    }
    assert rows(
        db_session,
        'SELECT dealer_id, properties, images, created_by FROM "Item" WHERE id = :i',
        i=item["id"],
    ) == [
        (
            2,
            {"set_of": 2, "color": "oak"},
            ["PurchaseAppReact/2512-008/1.jpg", "PurchaseAppReact/2512-008/2.jpg"],
            ACTOR,
        )
    ]
    assert history(db_session, item["id"]) == [("state", None, "In-Transit", "create", ACTOR)]


def test_front_end_updates_items_by_article_number_appending_history(db_session):
    result, body = call(
        update,
        db_session,
        {
            "model_name": "Item",
            "reference": "Item 2511-001",
            "query_filters": {"article_number": {"operation": "in", "value": "2511-001"}},
            "update_type": "all_matches",
            "object_values": {
                "id": 1,
                "state": "In-Stock",
                "location": "Lager Västberga",
                "item_history": append_history(
                    history_entry("state", "In-Transit", "In-Stock"),
                    history_entry("location", None, "Lager Västberga"),
                ),
            },
            "requested_data": ["id", "state", "location", {"item_history": ["column_name", "to_value"]}],
        },
    )
    assert (result.status, result.message) == (201, "Item 2511-001 updated!")
    [item] = body
    assert (item["id"], item["state"], item["location"]) == (1, "In-Stock", "Lager Västberga")
    assert len(item["item_history"]) == 5
    assert history(db_session, 1)[-2:] == [
        ("state", "In-Transit", "In-Stock", "update", ACTOR),
        ("location", None, "Lager Västberga", "update", ACTOR),
    ]
    assert [h[0] for h in history(db_session, 1)[:3]] == ["state", "purchased_price", "location"]
    assert scalar(db_session, "SELECT count(*) FROM \"Item\" WHERE state = 'In-Stock'") == 6


def test_front_end_batch_of_notes_links_or_creates_subjects_and_links_items(db_session):
    result, body = call(
        create,
        db_session,
        [
            front_end_note("Cords need replacing.", "Condition", [9, 12]),
            front_end_note("Ship to Malmö.", "Shipping", [12]),
            front_end_note("Shipping booked.", "Shipping", [10, 12]),
        ],
    )
    assert (result.status, result.message) == (201, "Note created!")
    assert len(body) == 3 and all(len(member) == 1 for member in body)
    first, second, third = (member[0] for member in body)
    assert first["subject"] == {"id": 1, "subject": "Condition"}
    assert first["creation_time"] == "2025-12-05T08:30:00.000Z"
    shipping = second["subject"]["id"]
    assert shipping > 4
    assert third["subject"] == {"id": shipping, "subject": "Shipping"}  # found, not created twice
    assert scalar(db_session, "SELECT count(*) FROM \"Item_Notes_Subject\" WHERE subject = 'Shipping'") == 1
    assert sorted(i["id"] for i in first["items"]) == [9, 12]
    assert sorted(i["id"] for i in third["items"]) == [10, 12]
    assert note_items(db_session, second["id"]) == [12]
    assert history(db_session, 9) == [("notes", None, "Cords need replacing.", "update", ACTOR)]
    assert [h[2] for h in history(db_session, 12)] == [
        "Cords need replacing.",
        "Ship to Malmö.",
        "Shipping booked.",
    ]
    assert [h[2] for h in history(db_session, 10)] == ["Shipping booked."]


def test_front_end_updates_a_note_appending_history_to_its_items(db_session):
    result, body = call(
        update,
        db_session,
        {
            "model_name": "Item_Note",
            "reference": "Note",
            "query_filters": {"id": 2},
            "update_type": "first_match",
            "object_values": {
                "id": 2,
                "note_content": "Re-upholstered, ready for sale.",
                "subject": link("Item_Notes_Subject", {"subject": "Condition"}),
                "items": {
                    "action": "create_through_rel",
                    "values": {
                        "state": "In-Stock",
                        "item_history": append_history(history_entry("state", "In-Transit", "In-Stock")),
                    },
                },
            },
            "requested_data": ["id", "note_content", "subject_id"],
        },
    )
    assert (result.status, result.message) == (201, "Note updated!")
    assert body == [{"id": 2, "note_content": "Re-upholstered, ready for sale.", "subject_id": 1}]
    assert rows(db_session, 'SELECT id, state FROM "Item" WHERE id IN (1, 2, 5) ORDER BY id') == [
        (1, "In-Stock"),
        (2, "In-Stock"),
        (5, "In-Stock"),
    ]
    for item_id in (1, 2, 5):
        assert history(db_session, item_id)[-1] == ("state", "In-Transit", "In-Stock", "update", ACTOR)
    assert history(db_session, 9) == []


def test_front_end_deletes_a_note_after_also_do(db_session):
    result, body = call(
        delete,
        db_session,
        {
            "model_name": "Item_Note",
            "reference": "Note",
            "object_values": {
                "query_filters": {"id": 8},
                "delition_type": "delete_first",
                "also_do": {
                    "items": {
                        "action": "create_through_rel",
                        "values": {
                            "item_history": append_history(
                                history_entry("notes", "Customer asked for a discount.", None)
                            )
                        },
                    }
                },
            },
        },
    )
    assert (result.status, result.message, body) == (201, "Note deleted!", [])
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Note" WHERE id = 8') == 0
    assert note_items(db_session, 8) == []
    for item_id in (7, 11):
        assert history(db_session, item_id)[-1] == (
            "notes",
            "Customer asked for a discount.",
            None,
            "update",
            ACTOR,
        )
    assert scalar(db_session, 'SELECT count(*) FROM "Item" WHERE id IN (7, 11)') == 2
