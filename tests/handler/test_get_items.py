"""POST /api/schemes/get_items through `lambda_handler`, in-process, on real committed data.

Every test builds an API Gateway REST (v1 proxy) event from the base event (`support.event`, the
shape `sam local generate-event apigateway aws-proxy` produces, with the Cognito authorizer's
claims) and a request body (often a file in `bodies/`), invokes the handler as Lambda would, and checks the response against docs/contract.md §2 (the envelope and the
error rules) and §3 (the read grammar). Every response body is checked by `support.invoke`: status
equals statusCode, exactly the four envelope keys plus allowed extras, a readable message, a list
body, the error/success rule for `body` and `server_message`, and X-Request-Id equal to the body's
request_id.
"""

from __future__ import annotations

import base64
import json
import socket
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Text, func, insert, select
from sqlalchemy.exc import OperationalError

from dataapi.db import engine as dbmod
from dataapi.db.sqlstate import translate
from dataapi.errors import Unavailable
from dataapi.models import Dealer, Item, Item_History, Item_Note, Item_Notes_Subject
from dataapi.settings import get_settings
from tests.handler import support
from tests.handler.conftest import Db
from tests.handler.support import KEEP, Reply, headers_of

GET_ITEMS = "/api/schemes/get_items"
LEAKS = ("pg8000", "select", "postgresql", "traceback", "sqlalchemy")
BAD_JSON = '{"model_name": "Item", "requested_data": ["id", "article_number"'
PREFLIGHT_HEADERS: dict[str, str | None] = {
    "Accept": "*/*",
    "Access-Control-Request-Headers": "authorization,content-type",
    "Access-Control-Request-Method": "POST",
    "Authorization": None,
    "Content-Type": None,
}


# ---- events ----------------------------------------------------------------------------------


def load_event(name: str, *, body: Any = KEEP, **changes: Any) -> dict[str, Any]:
    """A get_items event sending `bodies/<name>.json` (or `body`); `changes` as `support.event`
    takes them (origin, claims, headers, top-level keys)."""
    return support.event(GET_ITEMS, support.body(name) if body is KEEP else body, **changes)


def preflight_event(origin: str) -> dict[str, Any]:
    """The browser's CORS preflight for get_items: OPTIONS, no authorizer, no body."""
    return support.event(GET_ITEMS, method="OPTIONS", claims=None, origin=origin, headers=PREFLIGHT_HEADERS)


def request_of(name: str, **changes: Any) -> dict[str, Any]:
    """The request body `bodies/<name>.json`, with top-level keys replaced (None-valued kept)."""
    request = support.body(name)
    request.update(changes)
    return request


# ---- invoking --------------------------------------------------------------------------------


def raw_invoke(event: dict[str, Any]) -> dict[str, Any]:
    return support.raw_invoke("get_items", event)


def invoke(event: dict[str, Any]) -> Reply:
    """Invoke the handler and check the envelope every response of every route must have."""
    return support.invoke("get_items", event)


def get(request: dict[str, Any], name: str = "get_items_item_list") -> Reply:
    return invoke(load_event(name, body=request))


def ok(request: dict[str, Any]) -> Reply:
    reply = get(request)
    assert reply.status == 200, reply.envelope
    assert reply.envelope["server_message"] == ""
    return reply


def items(requested: list[Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A get_items request on Item (no per_page: all rows of a small table)."""
    request: dict[str, Any] = {"model_name": "Item", "requested_data": requested or ["id"]}
    request.update(changes)
    return request


def refused(request: dict[str, Any], status: int = 400) -> Reply:
    reply = get(request)
    assert reply.status == status, reply.envelope
    assert reply.body == []
    assert reply.envelope["server_message"], "the machine-oriented detail is never empty on errors"
    return reply


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


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


# ---- paging ------------------------------------------------------------------------------------


def test_cursor_pages_by_id_descending(db: Db) -> None:
    """GIVEN five items
    WHEN the list is paged two at a time, passing the last id back as the cursor
    THEN the pages are the ids in descending order without overlap, then an empty page."""
    ids = [row.id for row in db.add(*(Item(article_number=f"A{i}") for i in range(5)))]
    expected = sorted(ids, reverse=True)

    pages: list[list[int]] = []
    cursor: int | None = None
    for _ in range(4):
        reply = ok(request_of("get_items_item_list", per_page=2, cursor=cursor))
        pages.append(reply.ids)
        if not reply.ids:
            break
        cursor = reply.ids[-1]

    assert pages == [expected[0:2], expected[2:4], expected[4:5], []]


def test_scroll_back_by_id_in_returns_exactly_those_rows(db: Db) -> None:
    """GIVEN five items
    WHEN the front end reloads rows it has seen with {"id": {"operation": "in", ...}}
    THEN exactly those rows come back, newest first; one id alone works too."""
    ids = [row.id for row in db.add(*(Item(article_number=f"A{i}") for i in range(5)))]
    wanted = [ids[3], ids[0], ids[1]]

    reply = ok(request_of("get_items_item_list", query_filters={"id": {"operation": "in", "value": wanted}}))
    assert reply.ids == sorted(wanted, reverse=True)

    reply = ok(request_of("get_items_item_list", query_filters={"id": {"operation": "in", "value": ids[2]}}))
    assert reply.ids == [ids[2]]


def test_no_per_page_returns_all_rows(db: Db) -> None:
    """GIVEN seven items WHEN per_page is omitted THEN all come back (up to the maximum)."""
    db.add(*(Item(article_number=f"A{i}") for i in range(7)))

    reply = ok(items(["id"]))

    assert len(reply.ids) == 7
    assert reply.envelope["next_cursor"] is None


# Rows for order_by: ties and NULLs in the sort column, and items without a dealer.
ORDER_ROWS = [
    ("a", 300, "Beta", utc(2025, 1, 3)),
    ("b", 100, None, utc(2025, 1, 1)),
    ("c", None, "Alpha", utc(2025, 1, 3)),
    ("d", 300, "Alpha", None),
    ("e", 200, None, utc(2025, 1, 2)),
    ("f", None, "Beta", utc(2025, 1, 3)),
    ("g", 300, None, None),
    ("h", 100, "Alpha", utc(2025, 1, 1)),
    ("i", None, None, utc(2025, 1, 2)),
    ("j", 200, "Beta", utc(2025, 1, 3)),
]


def _expected_order(rows: list[dict[str, Any]], field: str, desc: bool) -> list[int]:
    """PostgreSQL's order: ASC NULLS LAST / DESC NULLS FIRST; ties by id in the same direction."""
    present = [r for r in rows if r[field] is not None]
    missing = [r for r in rows if r[field] is None]
    present.sort(key=lambda r: (r[field], r["id"]), reverse=desc)
    missing.sort(key=lambda r: r["id"], reverse=desc)
    ordered = missing + present if desc else present + missing
    return [r["id"] for r in ordered]


@pytest.mark.parametrize(
    "spec",
    [
        "purchased_price",
        "-purchased_price",
        "dealer.dealer_name",
        "-dealer.dealer_name",
        "-created_at",
        "created_at",
    ],
)
@pytest.mark.parametrize("per_page", [1, 3, 4])
def test_order_by_next_cursor_pages_all_rows_without_duplicates_or_gaps(
    db: Db, spec: str, per_page: int
) -> None:
    """GIVEN ten items whose sort values tie and include NULLs (also through a missing dealer)
    WHEN they are paged with order_by, passing next_cursor back
    THEN the concatenated pages are every row exactly once, in the requested order."""
    dealers = {name: Dealer(dealer_name=name) for name in ("Alpha", "Beta")}
    created = db.add(
        *(
            Item(article_number=art, purchased_price=price, dealer=dealers.get(dealer), created_at=when)
            for art, price, dealer, when in ORDER_ROWS
        )
    )
    model = [
        {"id": row.id, "purchased_price": price, "dealer.dealer_name": dealer, "created_at": when}
        for row, (_, price, dealer, when) in zip(created, ORDER_ROWS, strict=True)
    ]
    desc = spec.startswith("-")
    expected = _expected_order(model, spec.lstrip("-"), desc)

    seen: list[int] = []
    cursor: str | None = None
    for _ in range(len(ORDER_ROWS) + 2):
        reply = ok(items(["id"], order_by=[spec], per_page=per_page, cursor=cursor))
        assert len(reply.ids) <= per_page
        seen.extend(reply.ids)
        cursor = reply.envelope["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    else:
        pytest.fail("paging did not end")

    assert seen == expected


def test_order_by_two_keys_with_next_cursor(db: Db) -> None:
    """GIVEN ten items with tied prices (NULLs included) and tied article numbers
    WHEN ordered by price descending then article ascending, two per page
    THEN the pages follow that order, ties on both broken by id (in the first key's direction)."""
    articles = ["x" if i % 3 == 0 else art for i, (art, *_) in enumerate(ORDER_ROWS)]
    created = db.add(
        *(
            Item(article_number=art, purchased_price=row[1])
            for art, row in zip(articles, ORDER_ROWS, strict=True)
        )
    )
    # -purchased_price: NULLs first, then high to low; article_number ascending; id descending.
    expected = [
        r.id
        for r in sorted(
            created,
            key=lambda r: (r.purchased_price is not None, -(r.purchased_price or 0), r.article_number, -r.id),
        )
    ]

    seen: list[int] = []
    cursor = None
    for _ in range(len(created) + 1):
        reply = ok(items(["id"], order_by=["-purchased_price", "article_number"], per_page=2, cursor=cursor))
        seen.extend(reply.ids)
        cursor = reply.envelope["next_cursor"]
        if cursor is None:
            break

    assert seen == expected


def test_integer_cursor_with_order_by_is_refused(db: Db) -> None:
    """GIVEN order_by WHEN an integer cursor is sent THEN 400 pointing at /cursor."""
    db.add(Item())

    reply = refused(items(order_by=["purchased_price"], cursor=5))

    assert "/cursor" in reply.envelope["server_message"]


def test_foreign_cursor_is_refused(db: Db) -> None:
    """GIVEN a next_cursor made for one order WHEN it is sent with another order THEN 400 at /cursor."""
    db.add(Item(purchased_price=1), Item(purchased_price=2))
    cursor = ok(items(order_by=["purchased_price"], per_page=1)).envelope["next_cursor"]
    assert isinstance(cursor, str)

    reply = refused(items(order_by=["-purchased_price"], per_page=1, cursor=cursor))
    assert "/cursor" in reply.envelope["server_message"]
    reply = refused(items(order_by=["purchased_price"], per_page=1, cursor="not-a-cursor"))
    assert "/cursor" in reply.envelope["server_message"]


def test_count_true_returns_the_total_of_all_pages(db: Db) -> None:
    """GIVEN five In-Stock items and two others
    WHEN one page of two is asked with count: true and a state filter
    THEN count is the total of matching rows (5), not the page size."""
    db.add(*(Item(state="In-Stock") for _ in range(5)), Item(state="Sold"), Item(state=None))

    reply = ok(items(query_filters={"state": "In-Stock"}, per_page=2, count=True))

    assert len(reply.body) == 2
    assert reply.envelope["count"] == 5
    assert "count" not in ok(items(per_page=2)).envelope


# ---- filters -----------------------------------------------------------------------------------


def test_search_or_event_matches_either_column(db: Db) -> None:
    """GIVEN items whose article or reference number contains 2512, and others
    WHEN the search event sends or-article_number / or-reference_number ilike %2512%
    THEN the items matching either are returned, once each."""
    hit_article, hit_reference, hit_both, _, _ = db.add(
        Item(article_number="2512-001"),
        Item(article_number="2511-003", reference_number="inv-2512-33"),
        Item(article_number="2512-006", reference_number="INV-2512-41"),
        Item(article_number="2511-001"),
        Item(article_number="2511-002", reference_number="LOT-118"),
    )

    reply = invoke(load_event("get_items_search_or"))

    assert reply.status == 200
    assert reply.ids == sorted([hit_article.id, hit_reference.id, hit_both.id], reverse=True)


def test_plain_conditions_and_or_group_combine_as_and_of_or(db: Db) -> None:
    """GIVEN items in several states WHEN a plain condition is sent with an or- group
    THEN the result is plain AND (or-group)."""
    match, _, _ = db.add(
        Item(article_number="2512-001", state="In-Stock"),
        Item(article_number="2512-002", state="Sold"),
        Item(article_number="2511-001", state="In-Stock"),
    )
    request = request_of("get_items_search_or")
    request["query_filters"]["state"] = "In-Stock"

    assert ok(request).ids == [match.id]


def test_filter_page_event_combines_containment_dotted_paths_and_missing_dealer(db: Db) -> None:
    """GIVEN items that each miss one condition of the filter page event, and one that meets all
    WHEN the event is sent (state, properties @> {"set_of": 6}, notes.subject.subject, dealer.id null)
    THEN only the one is returned."""
    condition = Item_Notes_Subject(subject="Condition")
    pricing = Item_Notes_Subject(subject="Pricing")
    dealer = Dealer(dealer_name="Karin Lund")

    def item(**kw: Any) -> Item:
        values: dict[str, Any] = {
            "state": "In-Stock",
            "properties": {"set_of": 6, "color": "oak"},
            "notes": [Item_Note(note_content="n", subject=condition)],
        }
        values.update(kw)
        return Item(**values)

    match, *_ = db.add(
        item(article_number="match"),
        item(article_number="has a dealer", dealer=dealer),
        item(article_number="set of 4", properties={"set_of": 4, "color": "oak"}),
        item(article_number="other subject", notes=[Item_Note(note_content="n", subject=pricing)]),
        item(article_number="no notes", notes=[]),
        item(article_number="in transit", state="In-Transit"),
    )

    reply = invoke(load_event("get_items_filter_page"))

    assert reply.status == 200
    assert reply.ids == [match.id]
    (row,) = reply.body
    assert row["dealer"] is None
    assert row["notes"] == [{"subject": {"subject": "Condition"}}]


def test_dealer_id_null_matches_items_without_a_dealer(db: Db) -> None:
    """GIVEN items with and without a dealer
    WHEN filtering {"dealer.id": null}
    THEN exactly the items without a dealer are returned; {"dealer": is_null} agrees."""
    dealer = Dealer(dealer_name="Lars Nilsson")
    with_dealer, without1, without2 = db.add(Item(dealer=dealer), Item(), Item())
    expected = sorted([without1.id, without2.id], reverse=True)

    assert ok(items(query_filters={"dealer.id": None})).ids == expected
    assert ok(items(query_filters={"dealer": {"operation": "is_null"}})).ids == expected
    assert ok(items(query_filters={"dealer.id": {"operation": "not_null"}})).ids == [with_dealer.id]


def test_dotted_path_filters_through_to_one_and_to_many(db: Db) -> None:
    """GIVEN items with dealers of several types and notes with subjects
    WHEN filtering on dealer.dealer_type and on notes.subject.subject
    THEN matching parents are returned once each, even with two matching notes."""
    shop, private = Dealer(dealer_type="Shop"), Dealer(dealer_type="Private")
    condition = Item_Notes_Subject(subject="Condition")
    two_notes, one_note, no_match = db.add(
        Item(dealer=shop, notes=[Item_Note(subject=condition), Item_Note(subject=condition)]),
        Item(dealer=private, notes=[Item_Note(subject=condition)]),
        Item(dealer=private, notes=[Item_Note(subject=Item_Notes_Subject(subject="Pricing"))]),
    )

    assert ok(items(query_filters={"dealer.dealer_type": "Shop"})).ids == [two_notes.id]
    by_subject = ok(items(query_filters={"notes.subject.subject": "Condition"}))
    assert by_subject.ids == [one_note.id, two_notes.id]
    both = ok(items(query_filters={"dealer.dealer_type": "Private", "notes.subject.subject": "Condition"}))
    assert both.ids == [one_note.id]
    assert no_match.id not in by_subject.ids


def test_json_containment_and_json_path_comparison(db: Db) -> None:
    """GIVEN items with JSON properties and issues
    WHEN filtering with contains (an object, and a list of objects) and on a path into the document
    THEN containment is jsonb @> and path values compare as JSON numbers (10 > 6)."""
    six, four, ten, none = db.add(
        Item(properties={"set_of": 6, "color": "oak"}, issues=[{"part": "leg", "issue": "loose"}]),
        Item(properties={"set_of": 4, "color": "oak"}, issues=[]),
        Item(properties={"set_of": 10}, issues=[{"part": "seat", "issue": "torn"}]),
        Item(),
    )

    contains_six = {"properties": {"operation": "contains", "value": {"set_of": 6}}}
    assert ok(items(query_filters=contains_six)).ids == [six.id]
    oak = {"properties": {"operation": "contains", "value": {"color": "oak"}}}
    assert ok(items(query_filters=oak)).ids == [four.id, six.id]
    leg = {"issues": {"operation": "contains", "value": [{"part": "leg"}]}}
    assert ok(items(query_filters=leg)).ids == [six.id]
    bigger = {"properties.set_of": {"operation": ">", "value": 6}}
    assert ok(items(query_filters=bigger)).ids == [ten.id]
    assert ok(items(query_filters={"properties.set_of": 4})).ids == [four.id]
    assert (
        none.id
        not in ok(items(query_filters={"properties": {"operation": "has_key", "value": "set_of"}})).ids
    )


def test_conditions_through_a_to_many_hold_on_the_same_related_row(db: Db) -> None:
    """GIVEN an item whose one note has the content and another note the subject
    WHEN both conditions are sent through `notes` in one group
    THEN it does not match (they must hold on the same note); an item with one note having both does."""
    condition = Item_Notes_Subject(subject="Condition")
    split, same = db.add(
        Item(notes=[Item_Note(note_content="Scratches", subject=Item_Notes_Subject(subject="Pricing")),
                    Item_Note(note_content="Other", subject=condition)]),
        Item(notes=[Item_Note(note_content="Scratches", subject=condition)]),
    )  # fmt: skip

    filters = {"notes.note_content": "Scratches", "notes.subject.subject": "Condition"}
    assert ok(items(query_filters=filters)).ids == [same.id]
    either = {"or-notes.note_content": "Scratches", "or-notes.subject.subject": "Condition"}
    assert ok(items(query_filters=either)).ids == [same.id, split.id]


def test_missing_dealer_condition_inside_an_or_group(db: Db) -> None:
    """GIVEN items with and without a dealer WHEN `or-dealer.id: null` is ORed with a state
    THEN items without a dealer or in that state are returned."""
    dealer = Dealer(dealer_name="Karin Lund")
    no_dealer, sold, _ = db.add(
        Item(), Item(dealer=dealer, state="Sold"), Item(dealer=dealer, state="In-Stock")
    )

    reply = ok(items(query_filters={"or-dealer.id": None, "or-state": "Sold"}))

    assert reply.ids == [sold.id, no_dealer.id]


def test_nested_boolean_groups(db: Db) -> None:
    """GIVEN items WHEN `$or` of two maps is combined with `$not` THEN the boolean structure holds."""
    a, b, c, d = db.add(
        Item(state="Sold", category="Chair"),
        Item(state="In-Stock", category="Chair"),
        Item(state="In-Stock", category="Table"),
        Item(state="Sold", category="Table"),
    )
    filters = {
        "$or": [{"state": "Sold", "category": "Chair"}, {"state": "In-Stock", "category": "Table"}],
        "$not": {"id": a.id},
    }

    assert ok(items(query_filters=filters)).ids == [c.id]
    assert {b.id, d.id}.isdisjoint(ok(items(query_filters=filters)).ids)


def test_not_equal_and_notin_keep_rows_without_a_value(db: Db) -> None:
    """GIVEN items with a state and one without
    WHEN excluding a state with != or notin THEN the item without a state is kept."""
    sold, no_state, stock = db.add(Item(state="Sold"), Item(state=None), Item(state="In-Stock"))

    assert ok(items(query_filters={"state": {"operation": "!=", "value": "Sold"}})).ids == [
        stock.id,
        no_state.id,
    ]
    assert ok(items(query_filters={"state": {"operation": "notin", "value": "Sold"}})).ids == [
        stock.id,
        no_state.id,
    ]
    assert ok(items(query_filters={"state": None})).ids == [no_state.id]
    assert ok(items(query_filters={"state": ["Sold", "In-Stock"]})).ids == [stock.id, sold.id]


def test_json_key_operators(db: Db) -> None:
    """GIVEN items with JSON documents WHEN has_key / has_any / has_all / contained_by are used
    THEN they select by the document's keys and containment."""
    both, only_a, neither = db.add(
        Item(properties={"a": 1, "b": 2}), Item(properties={"a": None}), Item(properties={"c": 3})
    )

    assert ok(items(query_filters={"properties": {"operation": "has_key", "value": "a"}})).ids == [
        only_a.id,
        both.id,
    ]
    assert ok(items(query_filters={"properties": {"operation": "has_any", "value": ["b", "c"]}})).ids == [
        neither.id,
        both.id,
    ]
    assert ok(items(query_filters={"properties": {"operation": "has_all", "value": ["a", "b"]}})).ids == [
        both.id
    ]
    within = {"properties": {"operation": "contained_by", "value": {"a": 1, "b": 2, "d": 4}}}
    assert ok(items(query_filters=within)).ids == [both.id]


def test_like_patterns_and_contains_on_text(db: Db) -> None:
    """GIVEN article numbers with a literal %, _ and / WHEN `contains` is used on a text column
    THEN the value is a substring, not a pattern (PostgreSQL escapes it: / is the escape
    character); `like` keeps pattern semantics."""
    percent, plain = db.add(Item(article_number="50% off"), Item(article_number="5000"))
    under, slash = db.add(Item(article_number="A_1"), Item(article_number="A/_1"))

    def contains(value: str) -> list[int]:
        return ok(items(query_filters={"article_number": {"operation": "contains", "value": value}})).ids

    assert contains("%") == [percent.id]
    assert contains("A_") == [under.id]
    assert contains("/_") == [slash.id]
    assert contains("/") == [slash.id]
    assert ok(items(query_filters={"article_number": {"operation": "like", "value": "5%"}})).ids == [
        plain.id,
        percent.id,
    ]


def test_default_order_next_cursor_pages_like_the_id_cursor(db: Db) -> None:
    """GIVEN five items WHEN paged without order_by by passing next_cursor back
    THEN every row comes once, newest id first."""
    ids = [row.id for row in db.add(*(Item() for _ in range(5)))]

    seen: list[int] = []
    cursor = None
    for _ in range(5):
        reply = ok(items(per_page=2, cursor=cursor))
        seen.extend(reply.ids)
        cursor = reply.envelope["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted(ids, reverse=True)


def test_filter_key_pointer_is_escaped(db: Db) -> None:
    """GIVEN a filter key holding `/` and `~` WHEN it is refused THEN the JSON pointer escapes them."""
    reply = refused(items(query_filters={"a/b~c": 1}))

    assert "at /query_filters/a~1b~0c" in reply.envelope["server_message"]


def test_get_matching_nothing_is_200_with_empty_body(db: Db) -> None:
    """GIVEN items WHEN the filter matches none THEN 200 with body [] (a success)."""
    db.add(Item(article_number="2511-001"))

    reply = get(request_of("get_items_search_or", query_filters={"article_number": "does-not-exist"}))

    assert reply.status == 200
    assert reply.body == []
    assert reply.envelope["message"] == "Data acquired."


# ---- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_page", [1001, 0, -1])
def test_per_page_outside_the_default_range_is_refused_naming_per_page(db: Db, per_page: int) -> None:
    """GIVEN the default maximum of 1000 WHEN per_page is beyond it (or below 1) THEN 400 naming per_page."""
    reply = refused(request_of("get_items_item_list", per_page=per_page))

    assert "per_page" in reply.envelope["message"]
    assert "/per_page" in reply.envelope["server_message"]


def test_per_page_maximum_is_configuration(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN MAX_PER_PAGE=3 WHEN per_page is 4 THEN 400; omitted, at most 3 rows come back."""
    db.add(*(Item() for _ in range(5)))
    monkeypatch.setenv("MAX_PER_PAGE", "3")
    get_settings.cache_clear()

    reply = refused(items(per_page=4))
    assert "/per_page" in reply.envelope["server_message"]
    assert len(ok(items()).body) == 3


def test_response_over_the_size_limit_is_400_naming_per_page(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN MAX_RESPONSE_BYTES=300 and rows whose JSON exceeds it
    WHEN they are read THEN 400 naming per_page (never a 502); a small page still passes."""
    db.add(*(Item(article_number=f"2512-{i:03}", properties={"text": "x" * 40}) for i in range(10)))
    monkeypatch.setenv("MAX_RESPONSE_BYTES", "300")
    get_settings.cache_clear()

    reply = refused(items(["id", "article_number", "properties"]))
    assert "per_page" in reply.envelope["message"]
    assert "/per_page" in reply.envelope["server_message"]
    assert len(ok(items(["id"], per_page=2)).body) == 2


# ---- errors ------------------------------------------------------------------------------------


BAD_REQUESTS = {
    "unknown model": (
        {"model_name": "Nope", "requested_data": ["id"]},
        "/model_name",
        ["Nope"],
    ),
    "model name not a string": (
        {"model_name": 7, "requested_data": ["id"]},
        "/model_name",
        ["model_name"],
    ),
    "unknown requested field": (
        items(["id", "colour"]),
        "/requested_data/1",
        ["colour", "Item"],
    ),
    "unknown nested requested field": (
        items(["id", {"dealer": ["id", "shoe_size"]}]),
        "/requested_data/1/dealer/1",
        ["shoe_size", "Dealer"],
    ),
    "unknown dotted requested field": (
        items(["notes.subject.colour"]),
        "/requested_data/0",
        ["colour", "Item_Notes_Subject"],
    ),
    "relationship requested as a column": (
        items(["id", "dealer"]),
        "/requested_data/1",
        ["dealer"],
    ),
    "unknown filter field": (
        items(query_filters={"colour": "red"}),
        "/query_filters/colour",
        ["colour"],
    ),
    "unknown or- filter field": (
        items(query_filters={"or-colour": "red", "or-state": "Sold"}),
        "/query_filters/or-colour",
        ["colour"],
    ),
    "unknown dotted filter field": (
        items(query_filters={"dealer.shoe_size": 42}),
        "/query_filters/dealer.shoe_size",
        ["shoe_size"],
    ),
    "bad operator": (
        items(query_filters={"state": {"operation": "~~", "value": "x"}}),
        "/query_filters/state/operation",
        ["~~"],
    ),
    "operator not for the type": (
        items(query_filters={"purchased_price": {"operation": "ilike", "value": "%5%"}}),
        "/query_filters/purchased_price",
        ["ilike", "purchased_price"],
    ),
    "wrong value type": (
        items(query_filters={"purchased_price": "abc"}),
        "/query_filters/purchased_price",
        ["purchased_price"],
    ),
    "wrong value type in an operation": (
        items(query_filters={"purchased_price": {"operation": ">=", "value": "abc"}}),
        "/query_filters/purchased_price/value",
        ["purchased_price"],
    ),
    "wrong value type in a list": (
        items(query_filters={"id": {"operation": "in", "value": [1, "two"]}}),
        "/query_filters/id/value/1",
        ["id"],
    ),
    "wrong timestamp": (
        items(query_filters={"created_at": {"operation": ">", "value": "yesterday"}}),
        "/query_filters/created_at/value",
        ["created_at"],
    ),
    "malformed condition": (
        items(query_filters={"state": {"op": "==", "value": "Sold"}}),
        "/query_filters/state",
        ["state"],
    ),
    "missing model_name": (
        {"requested_data": ["id"]},
        "/model_name",
        ["model_name"],
    ),
    "missing requested_data": (
        {"model_name": "Item"},
        "/requested_data",
        ["requested_data"],
    ),
    "unknown top-level key": (
        items(colour="red"),
        "/colour",
        ["colour"],
    ),
    "per_page not a number": (
        items(per_page="many"),
        "/per_page",
        ["per_page"],
    ),
    "query_filters not an object": (
        items(query_filters=["state"]),
        "/query_filters",
        ["query_filters"],
    ),
    "order_by unknown field": (
        items(order_by=["colour"]),
        "/order_by/0",
        ["colour"],
    ),
    "order_by through a to-many": (
        items(order_by=["notes.id"]),
        "/order_by/0",
        ["notes.id"],
    ),
    "body is an array": (
        [items()],
        "/",
        [],
    ),
}


@pytest.mark.parametrize(("request_body", "pointer", "named"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_are_400_with_a_json_pointer(
    db: Db, request_body: Any, pointer: str, named: list[str]
) -> None:
    """GIVEN a request the grammar refuses WHEN it is sent THEN 400 in the envelope, the
    server_message holding the JSON pointer and the message naming what is wrong."""
    reply = refused(request_body)

    assert f"at {pointer}" in reply.envelope["server_message"], reply.envelope
    for name in named:
        assert name in reply.envelope["message"], reply.envelope


@pytest.mark.parametrize(
    "body",
    [None, "", "   ", "{", "null", "[1,", "model_name=Item"],
    ids=["none", "empty", "blank", "brace", "null", "truncated-array", "form-encoded"],
)
def test_malformed_bodies_are_400(db: Db, body: str | None) -> None:
    """GIVEN a body that is missing, not JSON, or not an object WHEN it is sent THEN 400 in the envelope."""
    reply = invoke(load_event("get_items_item_list", body=body))

    assert reply.status == 400
    assert reply.body == []
    assert reply.envelope["server_message"].startswith("MalformedRequest")


def test_bad_json_event_is_400(db: Db) -> None:
    """GIVEN the bad JSON event WHEN it is sent THEN 400 MalformedRequest at the document root."""
    reply = invoke(load_event("get_items_item_list", body=BAD_JSON))

    assert reply.status == 400
    assert reply.envelope["server_message"] == "MalformedRequest InvalidJSON at /"
    assert "JSON" in reply.envelope["message"]


def test_base64_encoded_body_is_decoded(db: Db) -> None:
    """GIVEN API Gateway passes the body base64-encoded WHEN the handler reads it THEN it is decoded."""
    (item,) = db.add(Item(article_number="b64"))
    raw = json.dumps(items(["id", "article_number"])).encode()
    event = load_event("get_items_item_list", body=base64.b64encode(raw).decode(), isBase64Encoded=True)

    reply = invoke(event)

    assert reply.status == 200
    assert reply.body == [{"id": item.id, "article_number": "b64"}]


def test_no_claims_is_401_in_the_envelope(db: Db) -> None:
    """GIVEN the event without an authorizer WHEN it reaches the handler THEN 401 in the envelope."""
    db.add(Item())

    reply = invoke(load_event("get_items_item_list", claims=None))

    assert reply.status == 401
    assert reply.body == []
    assert reply.envelope["server_message"]


def test_empty_claims_is_401(db: Db) -> None:
    """GIVEN an authorizer block with empty claims WHEN it reaches the handler THEN 401."""
    event = load_event("get_items_item_list")
    event["requestContext"]["authorizer"] = {"claims": {}}

    assert invoke(event).status == 401


def test_unknown_route_is_404_in_the_envelope(db: Db) -> None:
    """GIVEN a path this function does not serve WHEN it is invoked THEN 404 in the envelope."""
    event = support.event("/api/schemes/get_itemz", support.body("get_items_item_list"))

    reply = invoke(event)

    assert reply.status == 404
    assert reply.body == []


def test_unexpected_error_is_500_with_a_generic_message(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN the engine fails with an exception nobody expected (carrying SQL-like text)
    WHEN a request is served THEN 500 in the envelope with a generic message and no detail."""
    import dataapi.reads

    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError('SELECT secret FROM "User" -- pg8000 postgresql://u:pw@db/x')

    monkeypatch.setattr(dataapi.reads, "fetch", explode)

    reply = get(items())

    assert reply.status == 500
    assert reply.body == []
    shown = (reply.envelope["message"] + " " + reply.envelope["server_message"]).lower()
    for leak in (*LEAKS, "secret", "pw@"):
        assert leak not in shown, leak


# ---- CORS --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["http://localhost:5173", "https://localhost:5173", "http://127.0.0.1:4173"]
)
def test_preflight_from_an_allowed_origin_echoes_it_with_credentials(origin: str) -> None:
    """GIVEN the preflight event (no authorizer) from an allowed origin
    WHEN it is invoked THEN 204/200 with that exact origin, credentials, POST and the two headers."""
    response = raw_invoke(preflight_event(origin))
    headers = headers_of(response)

    assert response["statusCode"] in (200, 204)
    assert headers["access-control-allow-origin"] == origin
    assert headers["access-control-allow-credentials"] == "true"
    assert "POST" in headers["access-control-allow-methods"].split(",")
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "authorization"} <= allowed


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:5174", "null"])
def test_preflight_from_another_origin_is_not_echoed(origin: str) -> None:
    """GIVEN a preflight from an origin that is not allowed WHEN it is invoked
    THEN no Access-Control-Allow-Origin names it (and never `*`)."""
    response = raw_invoke(preflight_event(origin))
    headers = headers_of(response)

    assert headers.get("access-control-allow-origin") not in (origin, "*")


def test_post_from_another_origin_is_not_echoed(db: Db) -> None:
    """GIVEN a POST from a disallowed origin WHEN it is served THEN the origin is not echoed."""
    reply = invoke(load_event("get_items_item_list", origin="https://evil.example"))

    assert reply.status == 200
    assert reply.headers.get("access-control-allow-origin") not in ("https://evil.example", "*")


# ---- nothing internal leaks --------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_unreachable_is_503_without_internals(api_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN DATABASE_URL points at a closed port
    WHEN a valid request arrives THEN 503 in the envelope, naming no driver, SQL, dialect or URL."""
    port = _closed_port()
    url = f"postgresql+pg8000://postgres:s3cret-pw@127.0.0.1:{port}/dataapi"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    dbmod.dispose_engine()

    event = load_event("get_items_item_list")
    reply = invoke(event)

    assert reply.status == 503
    assert reply.body == []
    shown = (reply.envelope["message"] + " " + reply.envelope["server_message"]).lower()
    for leak in (*LEAKS, url.lower(), "127.0.0.1", str(port), "s3cret"):
        assert leak not in shown, leak
    text = raw_invoke(load_event("get_items_item_list"))["body"].lower()
    for leak in (*LEAKS, "127.0.0.1", "s3cret"):
        assert leak not in text, leak


def test_statement_timeout_is_503(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN 50,000 items with long article numbers and STATEMENT_TIMEOUT_MS=1
    WHEN a request must scan all of them (an ilike no index serves, matching nothing, with a count)
    THEN the statement is cancelled and the answer is 503 without internals."""
    numbers = select(func.generate_series(1, 50_000).label("n")).subquery()
    with db.engine.begin() as conn:
        conn.execute(
            insert(Item).from_select(
                ["article_number"], select(func.repeat("x", 100).op("||")(numbers.c.n.cast(Text)))
            )
        )
    monkeypatch.setenv("STATEMENT_TIMEOUT_MS", "1")
    get_settings.cache_clear()

    request = items(
        ["id"], query_filters={"article_number": {"operation": "ilike", "value": "%zzz%"}}, count=True
    )
    reply = get(request)

    assert reply.status == 503, reply.envelope
    assert reply.body == []
    assert "StatementTimeout" in reply.envelope["server_message"]
    shown = (reply.envelope["message"] + " " + reply.envelope["server_message"]).lower()
    for leak in (*LEAKS, "statement_timeout", "57014", "canceling"):
        assert leak not in shown, leak


def _db_error(fields: dict[str, str]) -> OperationalError:
    class DriverError(Exception):
        pass

    return OperationalError("SELECT 1", {}, DriverError(fields))


def test_translate_maps_sqlstate_57014_to_503() -> None:
    """GIVEN a driver error carrying SQLSTATE 57014 (query_canceled by statement_timeout)
    WHEN it is translated THEN 503 StatementTimeout, without the driver's text."""
    exc = _db_error({"S": "ERROR", "C": "57014", "M": "canceling statement due to statement timeout"})

    mapped = translate(exc)

    assert isinstance(mapped, Unavailable)
    assert mapped.status == 503
    assert "StatementTimeout" in mapped.server_message
    assert "canceling" not in mapped.message + mapped.server_message


@pytest.mark.parametrize("code", ["08006", "53300", "57P01"])
def test_translate_maps_unavailability_sqlstates_to_503(code: str) -> None:
    """GIVEN connection failure, too many connections or admin shutdown WHEN translated THEN 503."""
    mapped = translate(_db_error({"S": "FATAL", "C": code, "M": "detail from the server"}))

    assert mapped.status == 503
    assert "detail from the server" not in mapped.message + mapped.server_message


# ---- nulls in lists, NOT with nulls, strict types, pointers, integer ranges --------------------


def test_in_list_with_null_also_matches_rows_without_a_value(db: Db) -> None:
    """GIVEN items Sold, without a state, and In-Stock
    WHEN filtering {"state": [null, "Sold"]} (list equality, `null` meaning IS NULL)
    THEN the Sold item and the item without a state are returned."""
    sold, no_state, _ = db.add(Item(state="Sold"), Item(state=None), Item(state="In-Stock"))

    assert ok(items(query_filters={"state": [None, "Sold"]})).ids == [no_state.id, sold.id]


def test_notin_with_null_excludes_rows_without_a_value(db: Db) -> None:
    """GIVEN items Sold, without a state, and In-Stock
    WHEN filtering notin ["Sold", null]
    THEN only the In-Stock item is returned (not the item without a state)."""
    _, _, stock = db.add(Item(state="Sold"), Item(state=None), Item(state="In-Stock"))

    assert ok(items(query_filters={"state": {"operation": "notin", "value": ["Sold", None]}})).ids == [
        stock.id
    ]


@pytest.mark.parametrize(
    "filters",
    [{"state": {"operation": "not", "value": "Sold"}}, {"$not": {"state": "Sold"}}],
    ids=["not-operation", "not-group"],
)
def test_not_keeps_rows_where_the_wrapped_condition_does_not_hold(db: Db, filters: dict[str, Any]) -> None:
    """GIVEN items Sold, without a state, and In-Stock
    WHEN filtering `not` Sold THEN the In-Stock item and the item without a state are returned,
    as with != (the item without a state is not Sold)."""
    _, no_state, stock = db.add(Item(state="Sold"), Item(state=None), Item(state="In-Stock"))

    assert ok(items(query_filters=filters)).ids == [stock.id, no_state.id]


@pytest.mark.parametrize("field", ["per_page", "cursor"])
def test_boolean_per_page_or_cursor_is_a_wrong_type(db: Db, field: str) -> None:
    """GIVEN items WHEN per_page or cursor is `true` THEN 400 naming the field (not 1)."""
    db.add(Item(), Item())

    reply = refused(items(**{field: True}))

    assert f"/{field}" in reply.envelope["server_message"]


@pytest.mark.parametrize(
    ("request_body", "pointer", "field"),
    [(items(cursor=[1]), "/cursor", "cursor"), (items(["id", 5]), "/requested_data/1", "requested_data")],
    ids=["cursor", "requested_data"],
)
def test_union_field_errors_point_at_the_field(db: Db, request_body: Any, pointer: str, field: str) -> None:
    """GIVEN a value of the wrong type in `cursor` or in a `requested_data` entry
    WHEN it is refused THEN the pointer ends at the request part (no `/int` or `/str`)
    and the message names the field."""
    reply = refused(request_body)

    assert reply.envelope["server_message"].endswith(f"at {pointer}"), reply.envelope
    assert field in reply.envelope["message"], reply.envelope


def test_integer_out_of_column_range_is_refused_naming_the_key(db: Db) -> None:
    """GIVEN purchased_price is a 32-bit integer column
    WHEN filtering it with 2**40 THEN 400 naming purchased_price with its JSON pointer."""
    db.add(Item(purchased_price=1))

    reply = refused(items(query_filters={"purchased_price": 2**40}))

    assert "purchased_price" in reply.envelope["message"]
    assert "at /query_filters/purchased_price" in reply.envelope["server_message"]
