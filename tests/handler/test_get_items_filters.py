"""POST /api/schemes/get_items through `lambda_handler`, in-process, on real committed data: filters.

Every test builds an API Gateway REST (v1 proxy) event from the base event (`support.event`, the
shape `sam local generate-event apigateway aws-proxy` produces, with the Cognito authorizer's
claims) and a request body (often a file in `bodies/`), invokes the handler as Lambda would
(get_items_support.py), and checks the response against docs/contract.md §2 (the envelope and the
error rules) and §3 (the read grammar). Every response body is checked by `support.invoke`.
"""

from __future__ import annotations

from typing import Any

import pytest

from dataapi.models import Dealer, Item, Item_Note, Item_Notes_Subject
from tests.handler.get_items_support import get, invoke, items, load_event, ok, refused, request_of
from tests.handler.support import Db

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


# ---- nulls in lists, NOT with nulls ----------------------------------------------------------


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
