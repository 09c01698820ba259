"""The read engine on a real PostgreSQL, against tests/fixtures/seed.py (each test rolled back)."""

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from dataapi.db import wire
from dataapi.errors import MalformedRequest
from dataapi.registry import default_registry
from dataapi.settings import Settings
from tests.support.engine import read

pytestmark = pytest.mark.db
NOW = datetime(2025, 12, 1, 12, 0, tzinfo=UTC)


def get(session: Session, model: str = "Item", fields: list | None = None, **request) -> tuple[list, dict]:
    raw = {"model_name": model, "requested_data": fields or ["id"], **request}
    result = read(session, raw, default_registry(), Settings(), NOW)
    return json.loads(result.body), result.extra


def ids(session: Session, filters: dict, model: str = "Item", **request) -> list[int]:
    rows, _ = get(session, model, ["id"], query_filters=filters, **request)
    return [r["id"] for r in rows]


def test_default_order_is_id_desc_and_all_rows_without_per_page(db_session):
    assert ids(db_session, {}) == list(range(12, 0, -1))


def test_front_end_search_with_or_group(db_session):
    filters = {
        "state": "In-Stock",
        "or-article_number": {"operation": "ilike", "value": "%2512%"},
        "or-reference_number": {"operation": "ilike", "value": "%2512%"},
    }
    # 3 matches by reference INV-2512-33; 6, 10, 12 by article number.
    assert ids(db_session, filters) == [12, 10, 6, 3]


def test_to_one_and_to_many_rendering(db_session):
    rows, _ = get(
        db_session,
        fields=["id", {"dealer": ["dealer_name", "id"]}, "notes.subject.subject", "notes.id"],
        query_filters={"id": {"operation": "in", "value": [2, 9]}},
    )
    assert rows == [
        {"id": 9, "dealer": None, "notes": []},
        {
            "id": 2,
            "dealer": {"dealer_name": "Gamla Stans Antik", "id": 1},
            "notes": [{"subject": {"subject": "Restoration"}, "id": 2}, {"subject": None, "id": 6}],
        },
    ]


def test_json_columns_render_as_json_and_timestamps_in_utc(db_session):
    rows, _ = get(db_session, fields=["properties", "created_at", "images"], query_filters={"id": 1})
    assert rows[0]["properties"] == {"set_of": 6, "color": "oak"}
    assert rows[0]["created_at"] == "2025-11-01T09:00:00.000Z"
    assert rows[0]["images"] == ["PurchaseAppReact/2511-001/1.jpg", "PurchaseAppReact/2511-001/2.jpg"]


def test_paths_through_to_many_never_duplicate_parents_and_per_page_counts_parents(db_session):
    # Note 2 (Restoration) is on items 1, 2 and 5; subject 2 also on note 7 (item 8).
    assert ids(db_session, {"notes.subject.subject": "Restoration"}) == [8, 5, 2, 1]
    assert ids(db_session, {"notes.subject.subject": "Restoration"}, per_page=2) == [8, 5]


def test_conditions_under_one_relationship_hold_on_the_same_row(db_session):
    # Item 1 has history 'state' (from null) and 'purchased_price' (from 1000), but no single row
    # with column_name 'state' and from_value 1000.
    same_row = {"item_history.column_name": "state", "item_history.from_value": 1000}
    assert ids(db_session, same_row) == []
    assert ids(
        db_session, {"item_history.column_name": "purchased_price", "item_history.from_value": 1000}
    ) == [1]


def test_null_through_to_one_matches_missing_related_rows(db_session):
    assert ids(db_session, {"dealer.id": None}) == [12, 9]
    assert ids(db_session, {"dealer.age": None}) == [12, 9]  # dealer 5 (age null) has no items
    assert ids(db_session, {"dealer": {"operation": "is_null"}}) == [12, 9]
    assert ids(db_session, {"notes": {"operation": "is_null"}}) == [12, 10, 9]
    assert ids(db_session, {"items": {"operation": "is_null"}}, model="Dealer") == [5]


def test_json_paths_compare_as_jsonb_numbers(db_session):
    assert ids(db_session, {"properties.set_of": {"operation": ">", "value": 6}}) == [5]
    assert ids(db_session, {"properties.set_of": {"operation": ">=", "value": 6}}) == [5, 1]
    assert ids(db_session, {"properties.color": "teak"}) == [10, 7]
    assert ids(db_session, {"properties.color": {"operation": "ilike", "value": "%O%"}}) == [8, 3, 1]
    assert ids(db_session, {"properties.style": {"operation": "in", "value": ["Rococo", "Gustavian"]}}) == [
        12,
        6,
    ]


def test_json_operators(db_session):
    assert ids(db_session, {"properties": {"operation": "contains", "value": {"set_of": 6}}}) == [1]
    assert ids(db_session, {"missing_parts": {"operation": "contains", "value": ["key"]}}) == [8]
    assert ids(db_session, {"properties": {"operation": "has_key", "value": "extendable"}}) == [3]
    assert ids(db_session, {"properties": {"operation": "has_any", "value": ["material", "extendable"]}}) == [
        4,
        3,
    ]
    assert ids(db_session, {"properties": {"operation": "has_all", "value": ["set_of", "style"]}}) == [10]
    assert ids(db_session, {"missing_parts": {"operation": "contained_by", "value": ["key", "cushion"]}}) == [
        8,
        4,
    ]
    assert ids(db_session, {"issues": {"operation": "contains", "value": [{"part": "leg"}]}}) == [
        i for i in ids(db_session, {}) if i in _items_with_issue_part(db_session, "leg")
    ]


def _items_with_issue_part(session: Session, part: str) -> set[int]:
    query = text("""SELECT id FROM "Item", jsonb_array_elements(issues) e WHERE e->>'part' = :p""")
    return {r[0] for r in session.execute(query, {"p": part})}


def test_scalar_operators(db_session):
    assert ids(
        db_session, {"purchased_price": {"operation": "range", "value": {"start": 800, "end": 1200}}}
    ) == [
        10,
        3,
        1,
    ]
    assert ids(db_session, {"sold_price": {"operation": "not_null"}}) == [11, 8, 7]
    assert ids(db_session, {"purchased_price": None}) == [4]
    assert ids(db_session, {"state": {"operation": "!=", "value": "In-Stock"}}) == [11, 9, 8, 7, 5, 2, 1]
    assert ids(db_session, {"location": {"operation": "notin", "value": ["Lager Västberga"]}}) == [
        12,
        11,
        10,
        9,
        8,
        7,
        5,
        4,
        2,
        1,
    ]
    assert ids(db_session, {"article_number": {"operation": "in", "value": "2512-003"}}) == [8]
    assert ids(db_session, {"type": {"operation": "like", "value": "% chair"}}) == [5, 1]
    assert ids(db_session, {"type": {"operation": "contains", "value": "chair"}}) == [10, 5, 2, 1]
    assert ids(
        db_session, {"valuation": {"operation": "or", "value": [900, {"operation": ">", "value": 6000}]}}
    ) == [
        8,
        6,
        5,
    ]
    assert ids(
        db_session, {"category": {"operation": "not", "value": {"operation": "in", "value": ["Chair"]}}}
    ) == [
        12,
        11,
        9,
        8,
        7,
        6,
        4,
        3,
    ]


def test_nested_boolean_groups(db_session):
    filters = {
        "$or": [
            {"category": "Sofa", "state": "Sold"},
            {"$not": {"category": {"operation": "!=", "value": "Lamp"}}},
        ]
    }
    assert ids(db_session, filters) == [11, 9]


def test_relative_times(db_session):
    # NOW is 2025-12-01 12:00; items created after 2025-11-24 12:00 are 11 (24th 14:00) and 12.
    assert ids(db_session, {"created_at": {"operation": ">", "value": "$now-7d"}}) == [12, 11]
    assert ids(db_session, {"created_at": {"operation": ">", "value": "2025-11-24T15:00:00+02:00"}}) == [
        12,
        11,
    ]


def test_cursor_pages_and_scroll_back_by_ids(db_session):
    assert ids(db_session, {}, per_page=5) == [12, 11, 10, 9, 8]
    assert ids(db_session, {}, per_page=5, cursor=8) == [7, 6, 5, 4, 3]
    assert ids(db_session, {}, per_page=5, cursor=None) == [12, 11, 10, 9, 8]
    assert ids(db_session, {"id": {"operation": "in", "value": [3, 4, 5]}}) == [5, 4, 3]


def test_order_by_with_next_cursor_visits_every_row_once_including_nulls_and_ties(db_session):
    for order in (["valuation"], ["-valuation"], ["category", "-purchased_price"], ["-dealer.dealer_name"]):
        seen: list[int] = []
        cursor = None
        while True:
            rows, extra = get(db_session, order_by=order, per_page=5, cursor=cursor)
            seen += [r["id"] for r in rows]
            cursor = extra["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == list(range(1, 13)), order
        assert seen == ids(db_session, {}, order_by=order), order


def test_order_by_orders(db_session):
    assert ids(db_session, {"state": "Sold"}, order_by=["-sold_price"]) == [8, 11, 7]
    # NULL valuations (item 9) sort last ascending, first descending.
    assert ids(db_session, {}, order_by=["valuation"])[-1] == 9
    assert ids(db_session, {}, order_by=["-valuation"])[0] == 9


def test_a_cursor_from_another_order_is_refused(db_session):
    _, extra = get(db_session, order_by=["valuation"], per_page=2)
    with pytest.raises(MalformedRequest):
        get(db_session, order_by=["-valuation"], per_page=2, cursor=extra["next_cursor"])


def test_count_is_the_total_ignoring_the_page(db_session):
    rows, extra = get(db_session, query_filters={"category": "Chair"}, per_page=2, count=True)
    assert len(rows) == 2 and extra["count"] == 4


def test_a_get_that_matches_nothing_is_an_empty_list(db_session):
    assert get(db_session, query_filters={"state": "Nope"}) == ([], {"next_cursor": None})


@pytest.mark.parametrize("per_page", [1, 5, 12])
def test_one_data_statement_per_request_whatever_the_page_and_paths(db_session, per_page):
    with wire.watched() as sent:
        get(
            db_session,
            fields=[
                "id",
                {"dealer": ["dealer_name"]},
                {"notes": ["id", {"subject": ["subject"]}]},
                "item_history.id",
            ],
            query_filters={"notes.subject.subject": {"operation": "not_null"}},
            per_page=per_page,
        )
    # the test fixture's SAVEPOINTs are its isolation, not the engine's work
    assert len([s for s in sent if not s.startswith("SAVEPOINT")]) == 1


def test_users_with_roles(db_session):
    rows, _ = get(
        db_session, "User", ["id", "username", {"roles": ["role", "id"]}], query_filters={"id": [3, 4]}
    )
    assert rows == [
        {"id": 4, "username": "nora", "roles": []},
        {"id": 3, "username": "erik", "roles": [{"role": "Buyer", "id": 2}, {"role": "Viewer", "id": 3}]},
    ]


def test_response_size_guard(db_session):
    raw = {"model_name": "Item", "requested_data": ["id", "properties"]}
    from dataapi.errors import ResponseTooLarge

    with pytest.raises(ResponseTooLarge) as caught:
        read(db_session, raw, default_registry(), Settings(max_response_bytes=200), NOW)
    assert caught.value.at == "/per_page"
