"""POST /api/schemes/get_items through `lambda_handler`, in-process, on real committed data: the front end's calls.

Every test builds an API Gateway REST (v1 proxy) event from the base event (`support.event`, the
shape `sam local generate-event apigateway aws-proxy` produces, with the Cognito authorizer's
claims) and a request body (often a file in `bodies/`), invokes the handler as Lambda would
(get_items_support.py), and checks the response against docs/contract.md §2 (the envelope and the
error rules) and §3 (the read grammar). Every response body is checked by `support.invoke`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dataapi.models import Dealer, Item, Item_History, Item_Note, Item_Notes_Subject
from tests.handler import support
from tests.handler.get_items_support import get, invoke, items, load_event, ok, request_of, utc
from tests.handler.support import Db

# ---- the front end's calls ---------------------------------------------------------------------


def test_item_list_event_renders_dealer_as_object_or_null(db: Db) -> None:
    """GIVEN two items of a dealer and one without a dealer
    WHEN the front end's item list event is sent
    THEN every item comes back newest id first, the dealer as an object of the requested fields or
    null, and the browser origin is echoed with credentials allowed."""
    shop = Dealer(dealer_name="Gamla Stans Antik", dealer_type="Shop")
    a, b, c = db.add(
        Item(
            article_number="2511-001",
            dealer=shop,
            purchased_price=1200,
            images=["PurchaseAppReact/2511-001/1.jpg"],
        ),
        Item(article_number="2511-002", dealer=shop, state="In-Transit"),
        Item(article_number="2512-004", state="In-Transit"),
    )

    reply = invoke(load_event("get_items_item_list"))

    assert reply.status == 200
    assert reply.envelope["message"] == "Data acquired."
    assert reply.envelope["server_message"] == ""
    assert reply.envelope["next_cursor"] is None
    assert reply.ids == [c.id, b.id, a.id]
    requested = support.body("get_items_item_list")["requested_data"]
    expected_keys = {k if isinstance(k, str) else next(iter(k)) for k in requested}
    assert all(set(row) == expected_keys for row in reply.body)
    rows = {row["id"]: row for row in reply.body}
    assert rows[a.id]["dealer"] == {"dealer_name": "Gamla Stans Antik", "id": shop.id}
    assert rows[b.id]["dealer"] == {"dealer_name": "Gamla Stans Antik", "id": shop.id}
    assert rows[c.id]["dealer"] is None
    assert rows[a.id]["images"] == ["PurchaseAppReact/2511-001/1.jpg"]
    assert rows[a.id]["purchased_price"] == 1200
    assert rows[c.id]["reference_number"] is None
    assert reply.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert reply.headers["access-control-allow-credentials"] == "true"


def test_single_item_event_renders_nested_dealer_notes_with_subjects_and_history(db: Db) -> None:
    """GIVEN an item with a dealer, two notes (one without subject) and history rows
    WHEN the single item event asks for it by id
    THEN the dealer is an object, notes a list through the many-to-many with each subject an object
    or null, item_history a list, all ordered by id."""
    condition = Item_Notes_Subject(subject="Condition")
    dealer = Dealer(dealer_name="Karin Lund", dealer_type="Private", phone="+46 18 12 34 56")
    note1 = Item_Note(note_content="Loose joint.", subject=condition, creation_time=utc(2025, 11, 1, 16))
    note2 = Item_Note(note_content="Ask Karin.", creation_time=utc(2025, 11, 2, 16))
    (item,) = db.add(
        Item(
            article_number="2511-003",
            reference_number="INV-2512-33",
            properties={"set_of": 6, "color": "oak"},
            dealer=dealer,
            notes=[note1, note2],
            item_history=[
                Item_History(column_name="state", to_value="In-Transit", type="create", user_name="anna",
                             recorded_time=utc(2025, 11, 1, 9, 5)),
                Item_History(column_name="purchased_price", from_value=1000, to_value=1200, type="update",
                             user_name="anna", recorded_time=utc(2025, 11, 1, 9, 30)),
            ],
        )
    )  # fmt: skip
    other = Item(article_number="other", notes=[note1])
    db.add(other)

    request = request_of("get_items_single_item", query_filters={"id": item.id})
    reply = get(request, "get_items_single_item")

    assert reply.status == 200
    assert len(reply.body) == 1
    row = reply.body[0]
    assert row["id"] == item.id
    assert row["properties"] == {"set_of": 6, "color": "oak"}
    assert row["dealer"] == {
        "id": dealer.id,
        "dealer_name": "Karin Lund",
        "dealer_type": "Private",
        "phone": "+46 18 12 34 56",
        "raw_address": None,
    }
    assert row["notes"] == [
        {
            "id": note1.id,
            "note_content": "Loose joint.",
            "creation_time": "2025-11-01T16:00:00.000Z",
            "subject": {"id": condition.id, "subject": "Condition"},
        },
        {
            "id": note2.id,
            "note_content": "Ask Karin.",
            "creation_time": "2025-11-02T16:00:00.000Z",
            "subject": None,
        },
    ]
    history = row["item_history"]
    assert [h["column_name"] for h in history] == ["state", "purchased_price"]
    assert history[0]["from_value"] is None and history[0]["to_value"] == "In-Transit"
    assert history[1]["from_value"] == 1000 and history[1]["to_value"] == 1200
    assert history[1]["recorded_time"] == "2025-11-01T09:30:00.000Z"


def test_to_many_renders_empty_list_and_to_one_null_when_none(db: Db) -> None:
    """GIVEN an item with no dealer, notes or history
    WHEN the single item event asks for it
    THEN dealer is null and the to-many relationships are [] (never null)."""
    (item,) = db.add(Item(article_number="lonely"))

    reply = get(request_of("get_items_single_item", query_filters={"id": item.id}), "get_items_single_item")

    assert reply.status == 200
    (row,) = reply.body
    assert row["dealer"] is None
    assert row["notes"] == []
    assert row["item_history"] == []


def test_dotted_requested_paths_merge_under_their_relationship(db: Db) -> None:
    """GIVEN an item with notes
    WHEN requested_data mixes a dotted path and a dict under the same relationship
    THEN they merge into one list of objects carrying both."""
    subject = Item_Notes_Subject(subject="Provenance")
    (item,) = db.add(Item(notes=[Item_Note(note_content="From an estate.", subject=subject)]))

    reply = ok(items(["id", "notes.subject.subject", {"notes": ["note_content"]}]))

    assert reply.body == [
        {"id": item.id, "notes": [{"subject": {"subject": "Provenance"}, "note_content": "From an estate."}]}
    ]


def test_timestamps_are_rendered_in_utc_with_z(db: Db) -> None:
    """GIVEN one timestamp stored from a UTC datetime and others from +02:00 datetimes
    WHEN they are read, directly and through relationships
    THEN all are rendered as UTC with milliseconds and a `Z`."""
    plus2 = timezone(timedelta(hours=2))
    utc_item, offset_item = db.add(
        Item(article_number="utc", created_at=datetime(2025, 12, 5, 13, 45, 10, 512000, tzinfo=UTC)),
        Item(
            article_number="offset",
            created_at=datetime(2025, 6, 1, 10, 0, 0, 250000, tzinfo=plus2),
            item_history=[Item_History(column_name="state", recorded_time=datetime(2025, 1, 1, 1, 30, tzinfo=plus2))],
            notes=[Item_Note(note_content="x", creation_time=datetime(2025, 3, 30, 0, 0, 0, 7000, tzinfo=plus2))],
        ),
    )  # fmt: skip

    reply = ok(items(["id", "created_at", {"item_history": ["recorded_time"]}, {"notes": ["creation_time"]}]))

    rows = {row["id"]: row for row in reply.body}
    assert rows[utc_item.id]["created_at"] == "2025-12-05T13:45:10.512Z"
    assert rows[offset_item.id]["created_at"] == "2025-06-01T08:00:00.250Z"
    assert rows[offset_item.id]["item_history"] == [{"recorded_time": "2024-12-31T23:30:00.000Z"}]
    assert rows[offset_item.id]["notes"] == [{"creation_time": "2025-03-29T22:00:00.007Z"}]


@pytest.mark.parametrize(
    "value",
    ["2025-12-05T13:45:10.512Z", "2025-12-05T15:45:10.512+02:00", "2025-12-05T13:45:10.512"],
    ids=["z", "plus-two-hours", "no-offset-is-utc"],
)
def test_timestamp_filter_values_are_converted_to_utc(db: Db, value: str) -> None:
    """GIVEN an item created at 13:45:10.512 UTC
    WHEN it is filtered by that instant written with Z, with +02:00, or without an offset
    THEN it matches each time (an offset is converted, no offset is taken as UTC)."""
    target, _ = db.add(
        Item(created_at=datetime(2025, 12, 5, 13, 45, 10, 512000, tzinfo=UTC)),
        Item(created_at=datetime(2025, 12, 5, 15, 45, 10, 512000, tzinfo=UTC)),
    )

    assert ok(items(query_filters={"created_at": value})).ids == [target.id]


def test_relative_time_filters_resolve_against_now(db: Db) -> None:
    """GIVEN an item created now and one created three days ago
    WHEN filtering created_at >= "$now-1d" and < "$now-2d"
    THEN each selects the matching one."""
    now = datetime.now(UTC)
    fresh, old = db.add(Item(created_at=now), Item(created_at=now - timedelta(days=3)))

    assert ok(items(query_filters={"created_at": {"operation": ">=", "value": "$now-1d"}})).ids == [fresh.id]
    assert ok(items(query_filters={"created_at": {"operation": "<", "value": "$now-2d"}})).ids == [old.id]
