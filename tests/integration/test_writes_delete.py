"""The write engine (docs/contract.md §4): delete.

On a real PostgreSQL, against tests/fixtures/seed.py. Each test calls the service functions
`create` / `update` / `delete` directly on `db_session` (rolled back after the test) and checks the
database row by row in SQL (helpers in writes_support.py). Ids of rows created here come from
sequences that are not rolled back, so they are read from the response, never assumed.
"""

from __future__ import annotations

import pytest

from dataapi.errors import NotFound
from tests.integration.writes_support import (
    ACTOR,
    call,
    delete_rows,
    history,
    item_notes,
    note_items,
    refused,
    rows,
    scalar,
)
from tests.support.engine import delete, update
from tests.support.requests import append_history, history_entry, link

pytestmark = pytest.mark.db


# ---- delete -------------------------------------------------------------------------------------


def test_delete_first_and_delete_all(db_session):
    result = delete_rows(db_session, "Dealer_Notes", {"dealer_id": 1}, "delete_first")
    assert (result.status, result.message, result.body) == (201, "Dealer_Notes deleted!", "[]")
    assert rows(db_session, 'SELECT id FROM "Dealer_Notes" ORDER BY id') == [(1,), (3,)]
    delete_rows(db_session, "Dealer_Notes", {"id": {"operation": ">", "value": 0}}, "delete_all")
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer_Notes"') == 0


def test_delete_first_with_also_do_touches_only_the_first_match(db_session):
    delete_rows(
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
    delete_rows(db_session, "Dealer_Notes", {}, "delete_all", allow_all=True)
    assert scalar(db_session, 'SELECT count(*) FROM "Dealer_Notes"') == 0


def test_delete_nothing_matched_is_404(db_session):
    for extra in ({}, {"also_do": {"content": "bye"}}):
        with pytest.raises(NotFound) as info:
            delete_rows(db_session, "Dealer_Notes", {"dealer_id": 5}, **extra)
        assert info.value.status == 404
        assert info.value.at == "/object_values/query_filters"


def test_delete_also_do_runs_before_the_deletion(db_session):
    """GIVEN note 2 on items 1, 2, 5 WHEN it is deleted with an also_do appending history to its items
    THEN each item has the new history row, the note and its associations are gone, the items stay."""
    delete_rows(
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
    delete_rows(db_session, "Item", {"id": 1}, "delete_first")
    assert scalar(db_session, 'SELECT count(*) FROM "Item" WHERE id = 1') == 0
    assert history(db_session, 1) == []
    assert scalar(db_session, 'SELECT count(*) FROM "Item_History"') == 9 - 3
    assert item_notes(db_session, 1) == []
    assert note_items(db_session, 2) == [2, 5]  # note 2 remains with its other items
    assert scalar(db_session, 'SELECT count(*) FROM "Item_Note"') == 8

    delete_rows(db_session, "Dealer", {"dealer_name": "Gamla Stans Antik"}, "delete_first")
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

    delete_rows(db_session, "Item_Notes_Subject", {"id": 1}, "delete_first")
    assert rows(db_session, 'SELECT id, subject_id FROM "Item_Note" WHERE id = 4') == [(4, None)]


def test_delete_with_also_do_then_the_row_is_gone_from_the_session(db_session):
    """A batch: the first member deletes (with also_do) the note the second member would link."""
    delete_rows(db_session, "Item_Note", {"id": 1}, "delete_first", also_do={"note_content": "gone"})
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
