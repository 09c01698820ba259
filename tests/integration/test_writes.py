"""The write engine (docs/contract.md §4) on a real PostgreSQL, against tests/fixtures/seed.py.

Each test calls the service functions `create` / `update` / `delete` directly on `db_session`
(rolled back after the test) and checks the database row by row in SQL. Ids of rows created here
come from sequences that are not rolled back, so they are read from the response, never assumed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from dataapi.errors import (
    ApiError,
    LimitExceeded,
    MalformedRequest,
    NotFound,
    UnknownField,
    WrongValueType,
)
from dataapi.registry import default_registry
from dataapi.result import Result
from dataapi.settings import Settings
from dataapi.writes import create_without_policy as create
from dataapi.writes import delete_without_policy as delete
from dataapi.writes import update_without_policy as update

pytestmark = pytest.mark.db

ACTOR = "clerk"
Service = Callable[..., Result]
SERVICES: dict[str, Service] = {"create": create, "update": update, "delete": delete}
TABLES = (
    "User",
    "Role",
    "user_roles",
    "Dealer",
    "Dealer_History",
    "Dealer_Notes",
    "Item",
    "Item_History",
    "Item_Note",
    "Items_Notes",
    "Item_Notes_Subject",
)


# ---- helpers ------------------------------------------------------------------------------------


def call(
    service: Service, session: Session, raw: Any, settings: Settings | None = None
) -> tuple[Result, Any]:
    result = service(session, raw, ACTOR, default_registry(), settings or Settings())
    return result, json.loads(result.body)


def refused(service: Service, session: Session, raw: Any, settings: Settings | None = None) -> ApiError:
    with pytest.raises(ApiError) as info:
        service(session, raw, ACTOR, default_registry(), settings or Settings())
    return info.value


def rows(session: Session, sql: str, **params: Any) -> list[tuple]:
    return [tuple(r) for r in session.execute(text(sql), params).all()]


def scalar(session: Session, sql: str, **params: Any) -> Any:
    return session.execute(text(sql), params).scalar_one()


def counts(session: Session) -> dict[str, int]:
    return {t: scalar(session, f'SELECT count(*) FROM "{t}"') for t in TABLES}


def note_items(session: Session, note_id: int) -> list[int]:
    return [
        r[0]
        for r in rows(
            session, 'SELECT item_id FROM "Items_Notes" WHERE note_id = :n ORDER BY item_id', n=note_id
        )
    ]


def item_notes(session: Session, item_id: int) -> list[int]:
    return [
        r[0]
        for r in rows(
            session, 'SELECT note_id FROM "Items_Notes" WHERE item_id = :i ORDER BY note_id', i=item_id
        )
    ]


def history(session: Session, item_id: int) -> list[tuple]:
    """(column_name, from_value, to_value, type, user_name) of an item's history, oldest first."""
    return rows(
        session,
        'SELECT column_name, from_value, to_value, type, user_name FROM "Item_History" '
        "WHERE item_id = :i ORDER BY id",
        i=item_id,
    )


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements run on the session's engine, without the test's SAVEPOINT bookkeeping."""
    seen: list[str] = []
    engine = session.get_bind().engine

    def listener(conn, cursor, statement, parameters, context, executemany):
        head = statement.lstrip().upper()
        if not head.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def link(model: str, filters: dict, link_type: str = "first_link", **extra: Any) -> dict:
    return {
        "action": "link",
        "values": {model: {"query_filters": filters, "link_type": link_type, **extra}},
    }


def history_entry(column: str, old: Any, new: Any, when: str = "2025-12-05T10:00:00Z", **extra: Any) -> dict:
    return {
        "column_name": column,
        "from_value": old,
        "to_value": new,
        "type": "update",
        "recorded_time": when,
        **extra,
    }


def append_history(*entries: dict, append: bool = True) -> dict:
    return {
        "action": "create",
        "sub_model_name": "Item_History",
        "values": list(entries) if len(entries) != 1 else entries[0],
        "append": append,
    }


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


# ---- link ---------------------------------------------------------------------------------------


def test_link_to_one_first_link(db_session):
    _, body = call(
        create,
        db_session,
        {
            "model_name": "Item",
            "object_values": {
                "article_number": "2601-040",
                "dealer": link("Dealer", {"dealer_name": "Karin Lund"}),
            },
            "requested_data": ["id", "dealer_id"],
        },
    )
    assert body[0]["dealer_id"] == 2
    assert scalar(db_session, 'SELECT dealer_id FROM "Item" WHERE id = :i', i=body[0]["id"]) == 2


@pytest.mark.parametrize("link_type", ["first_link", "all_link"])
def test_link_to_one_with_many_matches_takes_the_first_in_default_order(db_session, link_type):
    # Private dealers: 2 and 4; the default order is id DESC.
    call(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": {"id": 9},
            "update_type": "first_match",
            "object_values": {"dealer": link("Dealer", {"dealer_type": "Private"}, link_type)},
        },
    )
    assert scalar(db_session, 'SELECT dealer_id FROM "Item" WHERE id = 9') == 4


def test_link_to_many_all_link_and_first_link(db_session):
    _, body = call(
        create,
        db_session,
        [
            {
                "model_name": "Item",
                "object_values": {
                    "article_number": "2601-050",
                    "notes": link("Item_Note", {"subject_id": 1}, "all_link"),
                },
                "requested_data": ["id", "notes.id"],
            },
            {
                "model_name": "Item",
                "object_values": {
                    "article_number": "2601-051",
                    "notes": link("Item_Note", {"subject_id": 1}),
                },
                "requested_data": ["id"],
            },
        ],
    )
    first, second = body[0][0]["id"], body[1][0]["id"]
    assert sorted(n["id"] for n in body[0][0]["notes"]) == [1, 4]
    assert item_notes(db_session, first) == [1, 4]
    assert item_notes(db_session, second) == [4]  # highest id of subject 1's notes
    assert note_items(db_session, 1) == [1, first]
    assert note_items(db_session, 4) == [3, first, second]


def test_link_to_many_is_idempotent(db_session):
    """GIVEN item 1 linked to notes 1 and 2 WHEN notes 1 and 3 are linked (twice)
    THEN item 1 has notes 1, 2, 3 with one association row each."""
    raw = {
        "model_name": "Item",
        "query_filters": {"id": 1},
        "update_type": "first_match",
        "object_values": {
            "notes": link("Item_Note", {"id": {"operation": "in", "value": [1, 3]}}, "all_link")
        },
    }
    call(update, db_session, raw)
    call(update, db_session, raw)
    assert item_notes(db_session, 1) == [1, 2, 3]
    assert scalar(db_session, 'SELECT count(*) FROM "Items_Notes" WHERE item_id = 1 AND note_id = 1') == 1
    assert note_items(db_session, 3) == [1, 3, 4]


def test_link_also_do_is_applied_to_each_linked_row(db_session):
    call(
        update,
        db_session,
        {
            "model_name": "Item_Note",
            "query_filters": {"id": 6},
            "update_type": "first_match",
            "object_values": {
                "items": link("Item", {"dealer_id": 2}, "all_link", also_do={"location": "Hall B"}),
            },
        },
    )
    assert note_items(db_session, 6) == [2, 3, 4]
    assert rows(db_session, "SELECT id, location FROM \"Item\" WHERE location = 'Hall B' ORDER BY id") == [
        (3, "Hall B"),
        (4, "Hall B"),
    ]


def test_link_also_do_runs_once_per_linked_row_when_many_rows_are_updated(db_session):
    """One link in an all_matches update: each linked row gets its also_do once, not once per parent."""
    call(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": {"id": {"operation": "in", "value": [9, 10]}},
            "update_type": "all_matches",
            "object_values": {
                "notes": link(
                    "Item_Note",
                    {"id": 3},
                    also_do={
                        "note_content": "Seen.",
                        "items": {
                            "action": "create_through_rel",
                            "values": {"item_history": append_history(history_entry("notes", None, "seen"))},
                        },
                    },
                ),
            },
        },
    )
    assert note_items(db_session, 3) == [3, 4, 9, 10]
    assert scalar(db_session, 'SELECT note_content FROM "Item_Note" WHERE id = 3') == "Seen."
    # also_do ran on note 3 once, while it was related to items 3 and 4.
    assert [h[0] for h in history(db_session, 3)] == ["state", "properties", "notes"]
    assert [h[0] for h in history(db_session, 4)] == ["notes"]
    assert history(db_session, 9) == []


def test_link_to_one_all_link_applies_also_do_only_to_the_linked_row(db_session):
    """GIVEN private dealers 2 and 4 WHEN item 9 links its dealer with all_link and an also_do
    THEN dealer 4 (the first match, the one linked) gets the also_do; dealer 2, not linked, is untouched."""
    call(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": {"id": 9},
            "update_type": "first_match",
            "object_values": {
                "dealer": link("Dealer", {"dealer_type": "Private"}, "all_link", also_do={"age": 3}),
            },
        },
    )
    assert scalar(db_session, 'SELECT dealer_id FROM "Item" WHERE id = 9') == 4
    assert rows(db_session, 'SELECT id, age FROM "Dealer" WHERE id IN (2, 4) ORDER BY id') == [
        (2, 67),
        (4, 3),
    ]


def test_link_action_if_none_creates_the_entry(db_session):
    def note(subject: str) -> dict:
        return {
            "model_name": "Item_Note",
            "object_values": {
                "note_content": f"About {subject}.",
                "subject": link(
                    "Item_Notes_Subject",
                    {"subject": subject},
                    action_if_none="create_entry",
                    values_for_none_action={"subject": subject, "notes_counter": 1},  # ignored
                ),
            },
            "requested_data": ["id", {"subject": ["id", "subject", "notes_counter"]}],
        }

    _, body = call(create, db_session, note("Shipping"))
    created = body[0]["subject"]
    assert created["id"] > 4
    assert created == {"id": created["id"], "subject": "Shipping", "notes_counter": 0}  # a note, no links
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Notes_Subject"') == 5

    _, body = call(create, db_session, note("Pricing"))  # exists: linked, nothing created
    assert body[0]["subject"] == {"id": 4, "subject": "Pricing", "notes_counter": 3}
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Notes_Subject"') == 5


def test_link_creating_its_entry_counts_the_created_row_once(db_session):
    """One note plus one subject created for it: two rows touched, within a limit of two."""
    call(
        create,
        db_session,
        {
            "model_name": "Item_Note",
            "object_values": {
                "note_content": "Two rows.",
                "subject": link(
                    "Item_Notes_Subject",
                    {"subject": "Shipping"},
                    action_if_none="create_entry",
                    values_for_none_action={"subject": "Shipping"},
                ),
            },
        },
        Settings(max_rows_touched=2),
    )
    assert scalar(db_session, "SELECT count(*) FROM \"Item_Notes_Subject\" WHERE subject = 'Shipping'") == 1


def test_link_without_a_match_is_404(db_session):
    before = counts(db_session)
    err = refused(
        create,
        db_session,
        {
            "model_name": "Item",
            "object_values": {
                "article_number": "2601-060",
                "dealer": link("Dealer", {"dealer_name": "Nobody"}),
            },
        },
    )
    assert isinstance(err, NotFound)
    assert err.status == 404
    assert err.at == "/object_values/dealer"
    db_session.rollback()  # what the request's transaction does with any error
    assert counts(db_session) == before


def test_values_for_none_action_without_action_if_none_is_refused(db_session):
    err = refused(
        create,
        db_session,
        {
            "model_name": "Item",
            "object_values": {
                "dealer": link(
                    "Dealer", {"dealer_name": "Nobody"}, values_for_none_action={"dealer_name": "N"}
                ),
            },
        },
    )
    assert err.status == 400
    assert err.at == "/object_values/dealer/values/Dealer/values_for_none_action"


@pytest.mark.parametrize(
    ("values", "at"),
    [
        ({"Dealer": {"query_filters": {"id": 1}}}, "/object_values/dealer/values/Dealer/link_type"),
        (
            {"Dealer": {"query_filters": {}, "link_type": "first_link"}},
            "/object_values/dealer/values/Dealer/query_filters",
        ),
        ({"Item": {"query_filters": {"id": 1}, "link_type": "first_link"}}, "/object_values/dealer/values"),
        (
            {"Dealer": {"query_filters": {"nope": 1}, "link_type": "first_link"}},
            "/object_values/dealer/values/Dealer/query_filters/nope",
        ),
    ],
    ids=["no-link-type", "no-filters", "wrong-model", "unknown-filter"],
)
def test_malformed_link_is_refused(db_session, values, at):
    err = refused(
        create,
        db_session,
        {"model_name": "Item", "object_values": {"dealer": {"action": "link", "values": values}}},
    )
    assert err.status == 400
    assert err.at == at


# ---- unlink -------------------------------------------------------------------------------------


def _unlink(session: Session, item_id: int, rel: str, values: dict) -> None:
    call(
        update,
        session,
        {
            "model_name": "Item",
            "query_filters": {"id": item_id},
            "update_type": "first_match",
            "object_values": {rel: {"action": "unlink", "values": values}},
        },
    )


def test_unlink_matches_first_match_and_all_matches(db_session):
    both = {"id": {"operation": "in", "value": [1, 2]}}
    # Item 1 has notes 1 and 2; the first match in the default order is note 2.
    _unlink(
        db_session,
        1,
        "notes",
        {"unlink_type": "unlink_matches", "query_filters": both, "query_matches": "first_match"},
    )
    assert item_notes(db_session, 1) == [1]
    # Item 2 has notes 2 and 6.
    _unlink(
        db_session,
        2,
        "notes",
        {
            "unlink_type": "unlink_matches",
            "query_filters": {"id": {"operation": "in", "value": [2, 6]}},
            "query_matches": "all_matches",
        },
    )
    assert item_notes(db_session, 2) == []
    # Unlinking detaches: the notes themselves remain, with their other items.
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Note"') == 8
    assert note_items(db_session, 2) == [5]


def test_unlink_matches_defaults_to_all_matches(db_session):
    _unlink(
        db_session,
        1,
        "notes",
        {"unlink_type": "unlink_matches", "query_filters": {"id": {"operation": ">", "value": 0}}},
    )
    assert item_notes(db_session, 1) == []


def test_unlink_all(db_session):
    _unlink(db_session, 3, "notes", {"unlink_type": "unlink_all"})
    assert item_notes(db_session, 3) == []
    assert note_items(db_session, 3) == [4]
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Note" WHERE id IN (3, 4)') == 2


def test_unlink_to_one_sets_null(db_session):
    _unlink(
        db_session,
        1,
        "dealer",
        {"unlink_type": "unlink_matches", "query_filters": {"dealer_name": "Someone else"}},
    )
    assert scalar(db_session, 'SELECT dealer_id FROM "Item" WHERE id = 1') == 1
    _unlink(
        db_session,
        1,
        "dealer",
        {"unlink_type": "unlink_matches", "query_filters": {"dealer_name": "Gamla Stans Antik"}},
    )
    assert scalar(db_session, 'SELECT dealer_id FROM "Item" WHERE id = 1') is None
    _unlink(db_session, 2, "dealer", {"unlink_type": "unlink_all"})
    assert scalar(db_session, 'SELECT dealer_id FROM "Item" WHERE id = 2') is None
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer"') == 5  # the dealer itself stays
    _unlink(db_session, 9, "dealer", {"unlink_type": "unlink_all"})  # nothing linked: a no-op
    assert scalar(db_session, 'SELECT dealer_id FROM "Item" WHERE id = 9') is None


def test_unlink_without_unlink_type_is_refused(db_session):
    err = refused(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": {"id": 1},
            "update_type": "first_match",
            "object_values": {"notes": {"action": "unlink", "values": {"query_filters": {"id": 1}}}},
        },
    )
    assert err.status == 400
    assert err.at == "/object_values/notes/values/unlink_type"


# ---- create (relationship action) ---------------------------------------------------------------


def _update_item(session: Session, item_id: int, values: dict, **request: Any) -> tuple[Result, Any]:
    return call(
        update,
        session,
        {
            "model_name": "Item",
            "query_filters": {"id": item_id},
            "update_type": "first_match",
            "object_values": values,
            **request,
        },
    )


def test_create_action_with_one_dict(db_session):
    _update_item(
        db_session, 9, {"item_history": append_history(history_entry("state", "In-Transit", "In-Stock"))}
    )
    assert history(db_session, 9) == [("state", "In-Transit", "In-Stock", "update", ACTOR)]


def test_create_action_with_a_list_appends_by_default(db_session):
    entries = [history_entry("valuation", None, 500), history_entry("location", None, "Hall")]
    _update_item(
        db_session,
        1,
        {"item_history": {"action": "create", "sub_model_name": "Item_History", "values": entries}},
    )
    assert [h[0] for h in history(db_session, 1)] == [
        "state",
        "purchased_price",
        "location",
        "valuation",
        "location",
    ]


def test_create_action_without_sub_model_name(db_session):
    _update_item(
        db_session, 9, {"item_history": {"action": "create", "values": history_entry("state", None, "X")}}
    )
    assert [h[2] for h in history(db_session, 9)] == ["X"]


def test_create_action_append_false_replaces_the_collection(db_session):
    # One-to-many with delete-orphan: the old history rows go.
    _update_item(
        db_session, 1, {"item_history": append_history(history_entry("state", None, "Reset"), append=False)}
    )
    assert history(db_session, 1) == [("state", None, "Reset", "update", ACTOR)]
    assert scalar(db_session, 'SELECT count(*) FROM "Item_History"') == 9 - 3 + 1

    # Many-to-many: the item is detached from its old notes, which remain.
    _, body = _update_item(
        db_session,
        2,
        {
            "notes": {
                "action": "create",
                "sub_model_name": "Item_Note",
                "values": {"note_content": "Fresh."},
                "append": False,
            }
        },
        requested_data=["id", {"notes": ["id", "note_content"]}],
    )
    [note] = body[0]["notes"]
    assert note["note_content"] == "Fresh."
    assert item_notes(db_session, 2) == [note["id"]]
    assert note_items(db_session, 2) == [1, 5]
    assert note_items(db_session, 6) == []
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Note"') == 9


def test_create_action_append_true_on_many_to_many_adds(db_session):
    _, body = _update_item(
        db_session,
        2,
        {
            "notes": {
                "action": "create",
                "sub_model_name": "Item_Note",
                "values": [{"note_content": "A"}, {"note_content": "B"}],
                "append": True,
            }
        },
        requested_data=["notes.id"],
    )
    assert len(item_notes(db_session, 2)) == 4
    assert sorted(n["id"] for n in body[0]["notes"]) == item_notes(db_session, 2)


def test_create_action_on_to_one(db_session):
    _, body = call(
        create,
        db_session,
        {
            "model_name": "Item",
            "object_values": {
                "article_number": "2601-070",
                "dealer": {
                    "action": "create",
                    "sub_model_name": "Dealer",
                    "values": {"dealer_name": "New Dealer"},
                },
            },
            "requested_data": [{"dealer": ["id", "dealer_name"]}],
        },
    )
    assert body[0]["dealer"]["dealer_name"] == "New Dealer"
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer"') == 6


def test_create_action_with_the_wrong_sub_model_name_is_refused(db_session):
    err = refused(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": {"id": 1},
            "update_type": "first_match",
            "object_values": {
                "item_history": {"action": "create", "sub_model_name": "Dealer_History", "values": {}}
            },
        },
    )
    assert err.status == 400
    assert "Dealer_History" in err.message
    assert err.at == "/object_values/item_history/sub_model_name"


def test_create_action_many_rows_on_a_to_one_is_refused(db_session):
    err = refused(
        create,
        db_session,
        {
            "model_name": "Item",
            "object_values": {
                "dealer": {"action": "create", "values": [{"dealer_name": "A"}, {"dealer_name": "B"}]}
            },
        },
    )
    assert err.status == 400
    assert err.at == "/object_values/dealer/values"


# ---- create_through_rel ---------------------------------------------------------------------------


def test_create_through_rel_updates_every_related_row(db_session):
    call(
        update,
        db_session,
        {
            "model_name": "Item_Note",
            "query_filters": {"id": 2},
            "update_type": "first_match",
            "object_values": {"items": {"action": "create_through_rel", "values": {"state": "Reserved"}}},
        },
    )
    assert rows(db_session, "SELECT id FROM \"Item\" WHERE state = 'Reserved' ORDER BY id") == [
        (1,),
        (2,),
        (5,),
    ]
    assert scalar(db_session, "SELECT count(*) FROM \"Item\" WHERE state = 'In-Transit'") == 1  # item 9


def test_create_through_rel_can_itself_create(db_session):
    call(
        update,
        db_session,
        {
            "model_name": "Item_Note",
            "query_filters": {"id": 2},
            "update_type": "first_match",
            "object_values": {
                "items": {
                    "action": "create_through_rel",
                    "values": {
                        "item_history": append_history(history_entry("notes", None, "re-upholstered"))
                    },
                }
            },
        },
    )
    for item_id in (1, 2, 5):
        assert history(db_session, item_id)[-1] == ("notes", None, "re-upholstered", "update", ACTOR)
    assert scalar(db_session, 'SELECT count(*) FROM "Item_History"') == 9 + 3


def test_create_through_rel_on_to_one(db_session):
    _update_item(db_session, 3, {"dealer": {"action": "create_through_rel", "values": {"age": 3}}})
    assert scalar(db_session, 'SELECT age FROM "Dealer" WHERE id = 2') == 3
    _update_item(db_session, 9, {"dealer": {"action": "create_through_rel", "values": {"age": 3}}})
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer" WHERE age = 3') == 1


def _nested(levels: int, model: str = "Item") -> dict:
    """Values of `model` whose relationship actions nest `levels` deep: Item -> notes -> items -> ..."""
    if levels == 0:
        return {"article_number": "deep"} if model == "Item" else {"note_content": "deep"}
    rel, sub = ("notes", "Item_Note") if model == "Item" else ("items", "Item")
    return {rel: {"action": "create", "sub_model_name": sub, "values": _nested(levels - 1, sub)}}


def test_nesting_deeper_than_the_limit_is_refused(db_session):
    before = counts(db_session)
    err = refused(
        create, db_session, {"model_name": "Item", "object_values": _nested(3)}, Settings(max_depth=3)
    )
    assert isinstance(err, LimitExceeded)
    assert err.status == 400
    assert "limit=depth" in err.server_message
    assert err.at.startswith("/object_values/")
    assert counts(db_session) == before

    # Within the limit it works.
    call(create, db_session, {"model_name": "Item", "object_values": _nested(2)}, Settings(max_depth=3))
    # The default limit is 8 levels.
    assert refused(create, db_session, {"model_name": "Item", "object_values": _nested(8)}).status == 400
    call(create, db_session, {"model_name": "Item", "object_values": _nested(7)})


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
    _, body = _update_item(
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
    _update_item(db_session, 5, {"id": 5, "location": "Hall C"})
    assert rows(db_session, 'SELECT id, location FROM "Item" WHERE id = 5') == [(5, "Hall C")]
    _update_item(db_session, 5, {"id": 999, "location": "Hall D", "created_at": "2020-01-01T00:00:00Z"})
    assert rows(db_session, 'SELECT id, location FROM "Item" WHERE id = 5') == [(5, "Hall D")]
    assert scalar(db_session, 'SELECT count(*) FROM "Item" WHERE id = 999') == 0
    assert scalar(db_session, 'SELECT created_at FROM "Item" WHERE id = 5') == datetime(
        2025, 11, 7, 13, tzinfo=UTC
    )
    # Only server-managed columns sent: the row matched, nothing changed, still a success.
    result, _ = _update_item(db_session, 5, {"id": 5})
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
    _update_item(db_session, 4, {"missing_parts": None, "issues": [], "valuation": None})
    assert rows(
        db_session,
        'SELECT missing_parts IS NULL, issues, valuation FROM "Item" WHERE id = 4',
    ) == [(True, [], None)]


# ---- delete -------------------------------------------------------------------------------------


def _delete(
    session: Session, model: str, filters: dict, kind: str | None = "delete_all", **extra: Any
) -> Result:
    values: dict[str, Any] = {"query_filters": filters, **extra}
    if kind is not None:
        values["deletion_type"] = kind
    return call(delete, session, {"model_name": model, "object_values": values})[0]


def test_delete_first_and_delete_all(db_session):
    result = _delete(db_session, "Dealer_Notes", {"dealer_id": 1}, "delete_first")
    assert (result.status, result.message, result.body) == (201, "Dealer_Notes deleted!", "[]")
    assert rows(db_session, 'SELECT id FROM "Dealer_Notes" ORDER BY id') == [(1,), (3,)]
    _delete(db_session, "Dealer_Notes", {"id": {"operation": ">", "value": 0}}, "delete_all")
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer_Notes"') == 0


def test_delete_first_with_also_do_touches_only_the_first_match(db_session):
    _delete(
        db_session,
        "Item_Note",
        {"subject_id": 2},
        "delete_first",
        also_do={  # notes 2 and 7
            "items": {"action": "create_through_rel", "values": {"location": "Archive"}}
        },
    )
    assert rows(db_session, 'SELECT id FROM "Item_Note" WHERE subject_id = 2') == [(2,)]
    assert rows(db_session, "SELECT id FROM \"Item\" WHERE location = 'Archive'") == [(8,)]


def test_delete_accepts_the_legacy_delition_type_key(db_session):
    result, _ = call(
        delete,
        db_session,
        {
            "model_name": "Item_History",
            "reference": "History",
            "object_values": {"query_filters": {"item_id": 1}, "delition_type": "delete_all"},
        },
    )
    assert result.message == "History deleted!"
    assert history(db_session, 1) == []
    assert scalar(db_session, 'SELECT count(*) FROM "Item_History"') == 6


def test_delete_without_deletion_type_is_refused(db_session):
    err = refused(
        delete, db_session, {"model_name": "Dealer_Notes", "object_values": {"query_filters": {"id": 1}}}
    )
    assert err.status == 400
    assert err.at == "/object_values/deletion_type"
    err = refused(
        delete,
        db_session,
        {
            "model_name": "Dealer_Notes",
            "object_values": {"query_filters": {"id": 1}, "deletion_type": "delete_some"},
        },
    )
    assert err.status == 400
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer_Notes"') == 3


def test_delete_with_empty_filters_is_refused_unless_allow_all(db_session):
    err = refused(
        delete, db_session, {"model_name": "Dealer_Notes", "object_values": {"deletion_type": "delete_all"}}
    )
    assert err.status == 400
    assert err.at == "/object_values/query_filters"
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer_Notes"') == 3
    _delete(db_session, "Dealer_Notes", {}, "delete_all", allow_all=True)
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer_Notes"') == 0


def test_delete_nothing_matched_is_404(db_session):
    for extra in ({}, {"also_do": {"content": "bye"}}):
        with pytest.raises(NotFound) as info:
            _delete(db_session, "Dealer_Notes", {"dealer_id": 5}, **extra)
        assert info.value.status == 404
        assert info.value.at == "/object_values/query_filters"


def test_delete_also_do_runs_before_the_deletion(db_session):
    """GIVEN note 2 on items 1, 2, 5 WHEN it is deleted with an also_do appending history to its items
    THEN each item has the new history row, the note and its associations are gone, the items stay."""
    _delete(
        db_session,
        "Item_Note",
        {"id": 2},
        "delete_first",
        also_do={
            "items": {
                "action": "create_through_rel",
                "values": {
                    "item_history": append_history(
                        history_entry("notes", "Needs re-upholstery before sale.", None)
                    )
                },
            }
        },
    )
    for item_id in (1, 2, 5):
        assert history(db_session, item_id)[-1] == (
            "notes",
            "Needs re-upholstery before sale.",
            None,
            "update",
            ACTOR,
        )
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Note" WHERE id = 2') == 0
    assert note_items(db_session, 2) == []
    assert scalar(db_session, 'SELECT count(*) FROM "Item" WHERE id IN (1, 2, 5)') == 3


def test_delete_cascades_in_the_database(db_session):
    _delete(db_session, "Item", {"id": 1}, "delete_first")
    assert scalar(db_session, 'SELECT count(*) FROM "Item" WHERE id = 1') == 0
    assert history(db_session, 1) == []
    assert scalar(db_session, 'SELECT count(*) FROM "Item_History"') == 9 - 3
    assert item_notes(db_session, 1) == []
    assert note_items(db_session, 2) == [2, 5]  # note 2 remains with its other items
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Note"') == 8

    _delete(db_session, "Dealer", {"dealer_name": "Gamla Stans Antik"}, "delete_first")
    assert rows(db_session, 'SELECT id, dealer_id FROM "Item" WHERE id IN (2, 6, 11) ORDER BY id') == [
        (2, None),
        (6, None),
        (11, None),
    ]
    assert (
        scalar(db_session, 'SELECT count(*) FROM "Dealer_Notes" WHERE dealer_id IS NULL OR dealer_id = 1')
        == 0
    )
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer_History"') == 2

    _delete(db_session, "Item_Notes_Subject", {"id": 1}, "delete_first")
    assert rows(db_session, 'SELECT id, subject_id FROM "Item_Note" WHERE id = 4') == [(4, None)]


def test_delete_with_also_do_then_the_row_is_gone_from_the_session(db_session):
    """A batch: the first member deletes (with also_do) the note the second member would link."""
    _delete(db_session, "Item_Note", {"id": 1}, "delete_first", also_do={"note_content": "gone"})
    err = refused(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": {"id": 9},
            "update_type": "first_match",
            "object_values": {"notes": link("Item_Note", {"id": 1})},
        },
    )
    assert err.status == 404


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
    assert seen[0].lstrip().upper().startswith("UPDATE")
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
        _delete(db_session, "Item", {"state": "Sold"}, "delete_all")  # 7, 8, 11
    assert len(seen) == 1
    assert seen[0].lstrip().upper().startswith("DELETE")
    assert scalar(db_session, 'SELECT count(*) FROM "Item"') == 9
    assert scalar(db_session, 'SELECT count(*) FROM "Item_History" WHERE item_id IN (7, 8, 11)') == 0


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
    def note(content: str, subject: str, items: list[int]) -> dict:
        return {
            "model_name": "Item_Note",
            "reference": "Note",
            "requested_data": [
                "id",
                "note_content",
                "creation_time",
                {"subject": ["id", "subject"]},
                "items.id",
            ],
            "object_values": {
                "note_content": content,
                "creation_time": "2025-12-05T09:30:00+01:00",
                "subject": link(
                    "Item_Notes_Subject",
                    {"subject": subject},
                    action_if_none="create_entry",
                    values_for_none_action={"subject": subject},
                ),
                "items": link(
                    "Item",
                    {"id": {"operation": "in", "value": items}},
                    "all_link",
                    also_do={"item_history": append_history(history_entry("notes", None, content))},
                ),
            },
        }

    result, body = call(
        create,
        db_session,
        [
            note("Cords need replacing.", "Condition", [9, 12]),
            note("Ship to Malmö.", "Shipping", [12]),
            note("Shipping booked.", "Shipping", [10, 12]),
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
