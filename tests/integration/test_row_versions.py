"""Row versions and `if_match` (docs/contract.md §4.7, migration 0004).

On a real PostgreSQL, against tests/fixtures/seed.py, through the write and read services on
`db_session` (rolled back after each test). The seed's own writes already moved some versions (the
counter triggers update dealers and subjects as items and links are inserted), so versions are
read before a change and compared after it, never assumed.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from dataapi.errors import NotFound, RowChanged
from dataapi.registry import default_registry
from dataapi.settings import Settings
from tests.integration.writes_support import (
    ACTOR,
    call,
    counts,
    refused,
    rows,
    scalar,
    statements,
    update_item,
)
from tests.support.engine import create, delete, read, update

pytestmark = pytest.mark.db

MODELS = sorted(default_registry().models)


def version(session, table: str, row_id: int) -> int:
    return scalar(session, f'SELECT row_version FROM "{table}" WHERE id = :i', i=row_id)


def versions(session, table: str) -> dict[int, int]:
    return dict(rows(session, f'SELECT id, row_version FROM "{table}" ORDER BY id'))


# ---- the column --------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_every_model_has_a_server_managed_row_version(model):
    column = default_registry().models[model].columns["row_version"]
    assert (column.kind, column.nullable, column.server_managed) == ("int", False, True)


@pytest.mark.parametrize("model", MODELS)
def test_every_models_table_keeps_row_version_in_a_trigger(db_session, model):
    """GIVEN a model's table WHEN a row is inserted with row_version 7 and updated with
    row_version 40 in plain SQL THEN it holds 1, then 2: whatever a statement sends."""
    table = default_registry().models[model].table.name
    columns, values = {
        "User": ("username, email, phone, ", "'v', 'v@example.com', '-', "),
        "Role": ("role, key, ", "'Versioned', 'v', "),
    }.get(model, ("", ""))
    sql = f'INSERT INTO "{table}" ({columns}row_version) VALUES ({values}7) RETURNING id, row_version'
    row_id, inserted = db_session.execute(text(sql)).one()
    updated = db_session.execute(
        text(f'UPDATE "{table}" SET row_version = 40 WHERE id = :i RETURNING row_version'), {"i": row_id}
    ).scalar_one()
    assert (inserted, updated) == (1, 2)


def test_created_rows_start_at_1_and_a_sent_row_version_is_ignored(db_session):
    _, body = call(
        create,
        db_session,
        {
            "model_name": "Item",
            "object_values": [{"article_number": "V-1", "row_version": 99}, {"article_number": "V-2"}],
            "requested_data": ["id", "row_version"],
        },
    )
    assert [row["row_version"] for row in body] == [1, 1]
    ids = [row["id"] for row in body]
    assert rows(db_session, 'SELECT row_version FROM "Item" WHERE id = ANY(:ids)', ids=ids) == [(1,), (1,)]


def test_an_orm_created_row_with_relationship_actions_starts_at_1(db_session):
    """The ORM's unit of work (relationship actions) reads the version back with its INSERT."""
    _, body = call(
        create,
        db_session,
        {
            "model_name": "Item",
            "object_values": {
                "article_number": "V-3",
                "item_history": {
                    "action": "create",
                    "sub_model_name": "Item_History",
                    "values": {"column_name": "state", "row_version": 5},
                },
            },
            "requested_data": ["id", "row_version", {"item_history": ["row_version"]}],
        },
    )
    assert body[0]["row_version"] == 1 and body[0]["item_history"] == [{"row_version": 1}]


def test_a_single_update_adds_1_and_a_sent_row_version_is_ignored(db_session):
    before = version(db_session, "Item", 4)
    result, body = update_item(
        db_session, 4, {"location": "Hall", "row_version": 1000}, requested_data=["id", "row_version"]
    )
    assert result.status == 201
    assert body == [{"id": 4, "row_version": before + 1}]
    assert version(db_session, "Item", 4) == before + 1


def test_an_orm_update_with_relationship_actions_adds_1(db_session):
    before = version(db_session, "Item", 4)
    _, body = update_item(
        db_session,
        4,
        {
            "state": "Sold",
            "notes": {
                "action": "link",
                "values": {"Item_Note": {"query_filters": {"id": 1}, "link_type": "all_link"}},
            },
        },
        requested_data=["row_version"],
    )
    assert body == [{"row_version": before + 1}]


def test_a_set_based_all_matches_update_adds_1_to_every_matched_row_and_no_other(db_session):
    before = versions(db_session, "Item")
    call(
        update,
        db_session,
        {
            "model_name": "Item",
            "query_filters": {"state": "In-Transit"},  # items 1, 2, 5, 9
            "update_type": "all_matches",
            "object_values": {"location": "Quay"},
        },
    )
    after = versions(db_session, "Item")
    assert after == {i: v + (1 if i in (1, 2, 5, 9) else 0) for i, v in before.items()}


def test_a_counter_trigger_update_adds_1_to_the_dealer(db_session):
    """GIVEN dealer 5 (no items) WHEN an item is linked to it THEN the counter trigger of
    migration 0002 updates the dealer's counters, and that update counts as one."""
    before = version(db_session, "Dealer", 5)
    update_item(
        db_session,
        12,
        {
            "dealer": {
                "action": "link",
                "values": {"Dealer": {"query_filters": {"id": 5}, "link_type": "first_link"}},
            }
        },
    )
    assert scalar(db_session, 'SELECT item_count FROM "Dealer" WHERE id = 5') >= 1
    assert version(db_session, "Dealer", 5) == before + 1


def test_row_version_reads_filters_and_orders_like_any_column(db_session):
    update_item(db_session, 7, {"location": "A"})
    update_item(db_session, 7, {"location": "B"})
    newest = version(db_session, "Item", 7)
    result = read(
        db_session,
        {
            "model_name": "Item",
            "requested_data": ["id", "row_version"],
            "query_filters": {"row_version": {"operation": ">=", "value": newest}},
            "order_by": ["-row_version", "id"],
        },
        default_registry(),
        Settings(),
    )
    body = json.loads(result.body)
    assert body[0] == {"id": 7, "row_version": newest}
    assert all(row["row_version"] >= newest for row in body)


# ---- if_match ---------------------------------------------------------------------------------------


def _guarded_update(item: int, expected, **extra) -> dict:
    return {
        "model_name": "Item",
        "query_filters": {"id": item},
        "update_type": "first_match",
        "object_values": {"location": "Guarded"},
        "if_match": {"row_version": expected},
        **extra,
    }


def _guarded_delete(item: int, expected) -> dict:
    return {
        "model_name": "Item",
        "if_match": {"row_version": expected},
        "object_values": {"query_filters": {"id": item}, "deletion_type": "delete_first"},
    }


def test_an_update_at_the_expected_version_writes_and_adds_1(db_session):
    current = version(db_session, "Item", 3)
    result, body = call(
        update, db_session, _guarded_update(3, current, requested_data=["location", "row_version"])
    )
    assert (result.status, body) == (201, [{"location": "Guarded", "row_version": current + 1}])


def test_a_stale_update_is_409_row_changed_with_the_row_as_it_is_and_nothing_written(db_session):
    current = version(db_session, "Item", 3)
    location = scalar(db_session, 'SELECT location FROM "Item" WHERE id = 3')
    before = rows(db_session, 'SELECT row_to_json(i)::text FROM "Item" i WHERE id = 3')
    err = refused(
        update, db_session, _guarded_update(3, current + 1, requested_data=["id", "location", "row_version"])
    )
    assert isinstance(err, RowChanged) and err.status == 409 and err.at == "/if_match"
    assert json.loads(err.body) == [{"id": 3, "location": location, "row_version": current}]
    assert rows(db_session, 'SELECT row_to_json(i)::text FROM "Item" i WHERE id = 3') == before


def test_a_stale_update_without_requested_data_answers_id_and_row_version(db_session):
    current = version(db_session, "Item", 3)
    err = refused(update, db_session, _guarded_update(3, current + 5))
    assert isinstance(err, RowChanged)
    assert json.loads(err.body) == [{"id": 3, "row_version": current}]
    assert err.server_message.startswith("RowChanged model=Item")


def test_a_stale_delete_is_409_with_id_and_row_version_and_the_row_stays(db_session):
    current = version(db_session, "Item", 6)
    before = counts(db_session)
    err = refused(delete, db_session, _guarded_delete(6, current + 1))
    assert isinstance(err, RowChanged) and err.at == "/if_match"
    assert json.loads(err.body) == [{"id": 6, "row_version": current}]
    assert counts(db_session) == before


def test_a_delete_at_the_expected_version_deletes(db_session):
    current = version(db_session, "Item", 6)
    result, _ = call(delete, db_session, _guarded_delete(6, current))
    assert result.status == 201
    assert scalar(db_session, 'SELECT count(*) FROM "Item" WHERE id = 6') == 0


def test_if_match_that_matches_no_row_is_a_404_as_without_it(db_session):
    with pytest.raises(NotFound):
        update(db_session, _guarded_update(999, 1), ACTOR, default_registry(), Settings())
    with pytest.raises(NotFound):
        delete(db_session, _guarded_delete(999, 1), ACTOR, default_registry(), Settings())


def test_if_match_checks_the_row_the_filters_match_first(db_session):
    """first_match is the highest id: the version compared is that row's."""
    current = version(db_session, "Item", 9)  # the newest In-Transit item
    body = {**_guarded_update(0, current), "query_filters": {"state": "In-Transit"}}
    call(update, db_session, body)
    assert rows(db_session, "SELECT id FROM \"Item\" WHERE location = 'Guarded'") == [(9,)]


@pytest.mark.parametrize(
    ("request_body", "at"),
    [
        ({**_guarded_update(3, 1), "update_type": "all_matches"}, "/if_match"),
        ({**_guarded_update(3, 1), "if_match": {"row_version": 0}}, "/if_match/row_version"),
        ({**_guarded_update(3, 1), "if_match": {"row_version": -2}}, "/if_match/row_version"),
        ({**_guarded_update(3, 1), "if_match": {"row_version": "3"}}, "/if_match/row_version"),
        ({**_guarded_update(3, 1), "if_match": {"row_version": True}}, "/if_match/row_version"),
        ({**_guarded_update(3, 1), "if_match": {"row_version": 1.5}}, "/if_match/row_version"),
        ({**_guarded_update(3, 1), "if_match": {"row_version": 2**31}}, "/if_match/row_version"),
        ({**_guarded_update(3, 1), "if_match": {}}, "/if_match/row_version"),
        ({**_guarded_update(3, 1), "if_match": {"row_version": 1, "id": 3}}, "/if_match/id"),
        ({**_guarded_update(3, 1), "if_match": 1}, "/if_match"),
    ],
    ids=[
        "all_matches",
        "zero",
        "negative",
        "string",
        "bool",
        "float",
        "too large",
        "empty",
        "extra key",
        "not an object",
    ],
)
def test_a_bad_if_match_on_update_is_a_400_naming_it_and_nothing_is_written(db_session, request_body, at):
    before = version(db_session, "Item", 3)
    err = refused(update, db_session, request_body)
    assert (err.status, err.at) == (400, at)
    assert version(db_session, "Item", 3) == before


def test_if_match_on_delete_all_is_a_400_naming_it(db_session):
    body = _guarded_delete(6, 1)
    body["object_values"]["deletion_type"] = "delete_all"
    err = refused(delete, db_session, [_guarded_delete(5, 1), body])
    assert (err.status, err.at) == (400, "/1/if_match")
    assert scalar(db_session, 'SELECT count(*) FROM "Item" WHERE id IN (5, 6)') == 2


# ---- cost ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "requested", [None, ["id", "row_version"]], ids=["no requested_data", "requested_data"]
)
def test_if_match_costs_one_statement_and_the_version_no_read_back(db_session, requested):
    """An update of plain columns: the same statements with and without if_match, plus the one
    that locks the row and reads its version; reading the new version back costs nothing more
    than any requested field."""
    extra = {"requested_data": requested} if requested else {}
    with statements(db_session) as plain:
        update_item(db_session, 10, {"location": "P"}, **extra)
    current = version(db_session, "Item", 10)
    with statements(db_session) as guarded:
        call(update, db_session, _guarded_update(10, current, **extra))
    assert len(guarded) == len(plain) + 1, (plain, guarded)
    assert "FOR UPDATE" in guarded[0] and "row_version" in guarded[0]


def test_creating_rows_reads_no_version_back_unasked(db_session):
    """The ORM's INSERT brings server defaults back in its RETURNING: no statement per row."""
    link = {"Dealer": {"query_filters": {"id": 1}, "link_type": "first_link"}}
    rows_sent = [
        {"article_number": f"C-{n}", "dealer": {"action": "link", "values": link}} for n in range(20)
    ]
    with statements(db_session) as seen:
        call(create, db_session, {"model_name": "Item", "object_values": rows_sent})
    inserts = [s for s in seen if s.lstrip().startswith('INSERT INTO "Item"')]
    assert len(inserts) == 1 and '"Item".row_version' in inserts[0].split("RETURNING")[1], seen
    assert not any(s.lstrip().startswith('SELECT "Item".row_version') for s in seen), seen  # no lazy load
    assert len(seen) < 10, seen
