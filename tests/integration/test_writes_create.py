"""The write engine (docs/contract.md §4): creating rows, and validating every request before its first statement.

On a real PostgreSQL, against tests/fixtures/seed.py. Each test calls the service functions
`create` / `update` / `delete` directly on `db_session` (rolled back after the test) and checks the
database row by row in SQL (helpers in writes_support.py). Ids of rows created here come from
sequences that are not rolled back, so they are read from the response, never assumed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dataapi.errors import MalformedRequest, UnknownField, WrongValueType
from tests.integration.writes_support import (
    ACTOR,
    SERVICES,
    call,
    counts,
    history,
    refused,
    rows,
    scalar,
    statements,
)
from tests.support.engine import create, update
from tests.support.requests import append_history, history_entry, link

pytestmark = pytest.mark.db


# ---- create -----------------------------------------------------------------------------------


def test_create_one_row_returns_its_requested_data(db_session):
    result, body = call(
        create,
        db_session,
        {
            "model_name": "Dealer",
            "object_values": {"dealer_name": "Ny Handlare", "dealer_type": "Shop", "age": 40},
            "requested_data": ["id", "dealer_name", "age", "item_count"],
        },
    )
    assert (result.status, result.message) == (201, "Dealer created!")
    [row] = body
    assert row["id"] > 5
    assert row == {"id": row["id"], "dealer_name": "Ny Handlare", "age": 40, "item_count": 0}
    assert rows(
        db_session, 'SELECT dealer_name, dealer_type, age FROM "Dealer" WHERE id = :i', i=row["id"]
    ) == [("Ny Handlare", "Shop", 40)]
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer"') == 6


def test_create_message_uses_the_reference_when_given(db_session):
    result, _ = call(
        create,
        db_session,
        {"model_name": "Dealer", "object_values": {"dealer_name": "X"}, "reference": "Dealer_X"},
    )
    assert result.message == "Dealer_X created!"


@pytest.mark.parametrize("requested", [None, []], ids=["missing", "empty"])
def test_create_without_requested_data_answers_one_empty_dict_per_row(db_session, requested):
    raw: dict[str, Any] = {"model_name": "Item_Notes_Subject", "object_values": {"subject": "One"}}
    if requested is not None:
        raw["requested_data"] = requested
    assert call(create, db_session, raw)[1] == [{}]
    raw["object_values"] = [{"subject": "A"}, {"subject": "B"}, {"subject": "C"}]
    assert call(create, db_session, raw)[1] == [{}, {}, {}]
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Notes_Subject"') == 4 + 4


def test_create_a_list_of_rows_answers_in_request_order(db_session):
    _, body = call(
        create,
        db_session,
        {
            "model_name": "Item",
            "object_values": [
                {"article_number": "2601-001", "category": "Chair", "purchased_price": 100},
                {"article_number": "2601-002"},  # a different key set than its neighbours
                {"article_number": "2601-003", "category": "Table", "properties": {"set_of": 2}},
                {"article_number": "2601-004", "category": "Lamp", "purchased_price": 50},
            ],
            "requested_data": ["id", "article_number", "category", "properties", "created_by"],
        },
    )
    assert [r["article_number"] for r in body] == ["2601-001", "2601-002", "2601-003", "2601-004"]
    assert [r["category"] for r in body] == ["Chair", None, "Table", "Lamp"]
    assert body[2]["properties"] == {"set_of": 2}
    ids = [r["id"] for r in body]
    assert len(set(ids)) == 4
    stored = rows(
        db_session,
        'SELECT id, article_number, purchased_price, created_by FROM "Item" WHERE id = ANY(:ids) ORDER BY id',
        ids=ids,
    )
    assert sorted(stored) == sorted(
        [
            (ids[0], "2601-001", 100, ACTOR),
            (ids[1], "2601-002", None, ACTOR),
            (ids[2], "2601-003", None, ACTOR),
            (ids[3], "2601-004", 50, ACTOR),
        ]
    )


def test_create_a_list_with_and_without_defaulted_columns(db_session):
    """Rows of one list that omit a column with a server default get the default, not NULL."""
    _, body = call(
        create,
        db_session,
        {
            "model_name": "Item_Note",
            "object_values": [
                {"note_content": "A", "creation_time": "2025-01-02T03:04:05Z"},
                {"note_content": "B"},
                {"note_content": "C", "creation_time": "2025-06-07T08:09:10Z"},
            ],
            "requested_data": ["note_content", "creation_time"],
        },
    )
    assert [(r["note_content"], r["creation_time"]) for r in body[::2]] == [
        ("A", "2025-01-02T03:04:05.000Z"),
        ("C", "2025-06-07T08:09:10.000Z"),
    ]
    assert body[1]["note_content"] == "B" and body[1]["creation_time"] is not None


def test_create_rows_without_columns(db_session):
    """A model whose columns are all optional can be created from an empty object."""
    _, body = call(
        create,
        db_session,
        {"model_name": "Item_Notes_Subject", "object_values": [{}, {}], "requested_data": ["notes_counter"]},
    )
    assert body == [{"notes_counter": 0}, {"notes_counter": 0}]
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Notes_Subject"') == 6


def test_create_batch_answers_a_list_of_lists_in_order(db_session):
    result, body = call(
        create,
        db_session,
        [
            {
                "model_name": "Dealer",
                "object_values": {"dealer_name": "D1"},
                "requested_data": ["dealer_name"],
            },
            {
                "model_name": "Item_Notes_Subject",
                "object_values": [{"subject": "S1"}, {"subject": "S2"}],
                "requested_data": ["subject"],
            },
            {"model_name": "Dealer", "object_values": {"dealer_name": "D2"}},
        ],
    )
    assert result.status == 201
    assert body == [[{"dealer_name": "D1"}], [{"subject": "S1"}, {"subject": "S2"}], [{}]]
    assert result.message.endswith(" created!")
    assert "Dealer" in result.message and "Item_Notes_Subject" in result.message
    assert rows(db_session, 'SELECT dealer_name FROM "Dealer" WHERE id > 5 ORDER BY id') == [("D1",), ("D2",)]


def test_create_ignores_server_managed_columns(db_session):
    """GIVEN a client resending `id` (of an existing row) and `created_at`
    WHEN it creates an item and a dealer THEN the server assigns both, and item 1 is untouched."""
    _, body = call(
        create,
        db_session,
        {
            "model_name": "Item",
            "object_values": {"id": 1, "created_at": "2020-01-01T00:00:00Z", "article_number": "2601-010"},
            "requested_data": ["id"],
        },
    )
    new_id = body[0]["id"]
    assert new_id != 1
    assert scalar(db_session, 'SELECT created_at = now() FROM "Item" WHERE id = :i', i=new_id) is True
    assert rows(db_session, 'SELECT article_number FROM "Item" WHERE id = 1') == [("2511-001",)]

    _, body = call(
        create,
        db_session,
        {
            "model_name": "Dealer",
            "object_values": {"id": 2, "created_at": "2020-01-01T00:00:00Z", "dealer_name": "Z"},
            "requested_data": ["id"],
        },
    )
    assert body[0]["id"] > 5
    assert scalar(db_session, 'SELECT created_at = now() FROM "Dealer" WHERE id = :i', i=body[0]["id"])
    assert scalar(db_session, 'SELECT dealer_name FROM "Dealer" WHERE id = 2') == "Karin Lund"


def test_server_managed_user_columns_are_never_written(db_session):
    _, body = call(
        create,
        db_session,
        {
            "model_name": "User",
            "object_values": {
                "username": "eva",
                "email": "eva@example.com",
                "phone": "1",
                "cognito_sub": "forged",
                "tokens_valid_after": "2030-01-01T00:00:00Z",
            },
            "requested_data": ["id", "cognito_sub", "tokens_valid_after"],
        },
    )
    assert body == [{"id": body[0]["id"], "cognito_sub": None, "tokens_valid_after": None}]
    call(
        update,
        db_session,
        {
            "model_name": "User",
            "query_filters": {"id": 1},
            "update_type": "first_match",
            "object_values": {"cognito_sub": "forged", "phone": "2"},
        },
    )
    assert rows(db_session, 'SELECT cognito_sub, phone FROM "User" WHERE id = 1') == [("seed-sub-admin", "2")]


def test_create_stamps_audit_columns_with_the_caller(db_session):
    _, body = call(
        create,
        db_session,
        {
            "model_name": "Item",
            "object_values": {
                "article_number": "2601-020",
                "created_by": "mallory",
                "item_history": append_history(
                    history_entry("state", None, "In-Transit", user_name="mallory")
                ),
            },
            "requested_data": ["id", "created_by", {"item_history": ["user_name"]}],
        },
    )
    assert body == [{"id": body[0]["id"], "created_by": ACTOR, "item_history": [{"user_name": ACTOR}]}]
    assert scalar(db_session, 'SELECT created_by FROM "Item" WHERE id = :i', i=body[0]["id"]) == ACTOR
    assert [h[4] for h in history(db_session, body[0]["id"])] == [ACTOR]

    # Item_History created directly, linked to its item.
    _, body = call(
        create,
        db_session,
        {
            "model_name": "Item_History",
            "object_values": {
                **history_entry("state", "Sold", "In-Stock"),
                "user_name": "mallory",
                "item": link("Item", {"id": 7}),
            },
            "requested_data": ["user_name", "item_id"],
        },
    )
    assert body == [{"user_name": ACTOR, "item_id": 7}]


def test_update_never_rewrites_audit_columns(db_session):
    call(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": {"id": 1},
            "update_type": "first_match",
            "object_values": {"created_by": "mallory", "location": "Hall"},
        },
    )
    assert rows(db_session, 'SELECT created_by, location FROM "Item" WHERE id = 1') == [("anna", "Hall")]


def test_create_keeps_client_event_times_in_utc(db_session):
    _, body = call(
        create,
        db_session,
        {
            "model_name": "Item_Note",
            "object_values": {
                "note_content": "Written offline.",
                "creation_time": "2025-12-01T08:00:00Z",
                "items": {
                    "action": "create",
                    "sub_model_name": "Item",
                    "values": {
                        "article_number": "2601-030",
                        "item_history": append_history(
                            history_entry("state", None, "In-Transit", when="2025-12-05T14:45:10.512+01:00"),
                            history_entry("location", None, "Hall", when="2025-12-05T15:00:00"),
                        ),
                    },
                },
            },
            "requested_data": ["id", "creation_time", {"items": ["id", {"item_history": ["recorded_time"]}]}],
        },
    )
    [note] = body
    assert note["creation_time"] == "2025-12-01T08:00:00.000Z"
    [item] = note["items"]
    assert sorted(h["recorded_time"] for h in item["item_history"]) == [
        "2025-12-05T13:45:10.512Z",
        "2025-12-05T15:00:00.000Z",
    ]
    stored = rows(
        db_session,
        "SELECT to_char(recorded_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') "
        'FROM "Item_History" WHERE item_id = :i ORDER BY recorded_time',
        i=item["id"],
    )
    assert stored == [("2025-12-05 13:45:10.512",), ("2025-12-05 15:00:00.000",)]
    assert scalar(
        db_session, 'SELECT creation_time FROM "Item_Note" WHERE id = :i', i=note["id"]
    ) == datetime(2025, 12, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"username": "david"}, ["email", "phone"]),
        ({"phone": "+46 70 000 00 00"}, ["username", "email"]),
        ({}, ["username", "email", "phone"]),
    ],
)
def test_create_user_without_required_columns_is_refused_listing_them(db_session, values, missing):
    before = counts(db_session)
    with statements(db_session) as seen:
        err = refused(create, db_session, {"model_name": "User", "object_values": values})
    assert isinstance(err, MalformedRequest)
    assert err.status == 400
    for name in missing:
        assert f"'{name}'" in err.message
    assert f"missing={','.join(missing)}" in err.server_message
    assert err.at == "/object_values"
    assert seen == []  # refused before the first statement
    assert counts(db_session) == before


def test_create_user_with_blank_username_is_refused(db_session):
    err = refused(
        create,
        db_session,
        {"model_name": "User", "object_values": {"username": "  ", "email": "x@example.com", "phone": "1"}},
    )
    assert err.status == 400
    assert err.message == "'username' cannot be empty."
    assert err.at == "/object_values/username"


@pytest.mark.parametrize(
    ("raw", "at"),
    [
        ({"model_name": "Item", "object_values": {"colour": "red"}}, "/object_values/colour"),
        (
            {"model_name": "Item", "object_values": [{"state": "Sold"}, {"colour": "red"}]},
            "/object_values/1/colour",
        ),
        (
            [
                {"model_name": "Dealer", "object_values": {"dealer_name": "ok"}},
                {"model_name": "Item", "object_values": {"colour": "red"}},
            ],
            "/1/object_values/colour",
        ),
        (
            {
                "model_name": "Item",
                "object_values": {"item_history": append_history({"colour": "red"})},
            },
            "/object_values/item_history/values/colour",
        ),
    ],
    ids=["one", "list", "batch", "nested"],
)
def test_unknown_column_is_refused_with_a_pointer(db_session, raw, at):
    before = counts(db_session)
    with statements(db_session) as seen:
        err = refused(create, db_session, raw)
    assert isinstance(err, UnknownField)
    assert err.status == 400
    assert "'colour'" in err.message
    assert err.at == at
    assert f"at {at}" in err.server_message
    assert seen == []
    assert counts(db_session) == before


def test_error_pointers_escape_slash_and_tilde(db_session):
    err = refused(create, db_session, {"model_name": "Item", "object_values": {"a/b~c": 1}})
    assert err.status == 400
    assert err.at == "/object_values/a~1b~0c"


def test_unknown_relationship_action_is_refused(db_session):
    err = refused(
        create,
        db_session,
        {"model_name": "Item", "object_values": {"dealer": {"action": "attach", "values": {}}}},
    )
    assert err.status == 400
    assert "'attach'" in err.message
    assert err.at == "/object_values/dealer/action"


def test_relationship_value_without_an_action_is_refused(db_session):
    err = refused(create, db_session, {"model_name": "Item", "object_values": {"dealer": 3}})
    assert err.status == 400
    assert err.at == "/object_values/dealer"


@pytest.mark.parametrize(
    ("model", "values", "field"),
    [
        ("Item", {"purchased_price": "cheap"}, "purchased_price"),
        ("Item", {"purchased_price": True}, "purchased_price"),
        ("Item", {"state": ["Sold"]}, "state"),
        ("Item_Note", {"creation_time": "yesterday"}, "creation_time"),
        ("Dealer", {"age": 4.5}, "age"),
    ],
)
def test_wrong_value_type_is_refused_naming_the_field(db_session, model, values, field):
    err = refused(create, db_session, {"model_name": model, "object_values": values})
    assert isinstance(err, WrongValueType)
    assert err.status == 400
    assert f"'{field}'" in err.message
    assert err.at == f"/object_values/{field}"
    assert f"field={field}" in err.server_message


@pytest.mark.parametrize(
    ("service", "raw", "at"),
    [
        (
            "create",
            {"model_name": "Item", "object_values": {"state": "Sold"}, "requested_data": ["id", "colour"]},
            "/requested_data/1",
        ),
        (
            "update",
            {
                "model_name": "Item",
                "query_filters": {"id": 1},
                "update_type": "first_match",
                "object_values": {"state": "Sold"},
                "requested_data": ["dealer.colour"],
            },
            "/requested_data/0",
        ),
        (
            "update",
            {
                "model_name": "Item",
                "query_filters": {"colour": "red"},
                "update_type": "first_match",
                "object_values": {"state": "Sold"},
            },
            "/query_filters/colour",
        ),
        (
            "update",
            {
                "model_name": "Item",
                "query_filters": {"id": 1},
                "update_type": "any_match",
                "object_values": {"state": "Sold"},
            },
            "/update_type",
        ),
        (
            "delete",
            {
                "model_name": "Item",
                "object_values": {
                    "query_filters": {"id": 1},
                    "deletion_type": "delete_all",
                    "also_do": {"colour": "red"},
                },
            },
            "/object_values/also_do/colour",
        ),
        (
            "create",
            [{"model_name": "Item", "object_values": {}}, {"model_name": "Invoice", "object_values": {}}],
            "/1/model_name",
        ),
    ],
)
def test_every_request_part_is_validated_before_the_first_statement(db_session, service, raw, at):
    with statements(db_session) as seen:
        err = refused(SERVICES[service], db_session, raw)
    assert err.status == 400
    assert err.at == at
    assert seen == []


def test_unknown_model_is_refused(db_session):
    err = refused(create, db_session, {"model_name": "Invoice", "object_values": {}})
    assert err.status == 400
    assert err.at == "/model_name"
