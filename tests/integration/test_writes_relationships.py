"""The write engine (docs/contract.md §4): relationship actions (link, unlink, create, create_through_rel).

On a real PostgreSQL, against tests/fixtures/seed.py. Each test calls the service functions
`create` / `update` / `delete` directly on `db_session` (rolled back after the test) and checks the
database row by row in SQL (helpers in writes_support.py). Ids of rows created here come from
sequences that are not rolled back, so they are read from the response, never assumed.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from dataapi.errors import LimitExceeded, NotFound
from dataapi.settings import Settings
from tests.integration.writes_support import (
    ACTOR,
    call,
    counts,
    history,
    item_notes,
    note_items,
    refused,
    rows,
    scalar,
    update_item,
)
from tests.support.engine import create, update
from tests.support.requests import append_history, history_entry, link

pytestmark = pytest.mark.db


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


def test_create_action_with_one_dict(db_session):
    update_item(
        db_session, 9, {"item_history": append_history(history_entry("state", "In-Transit", "In-Stock"))}
    )
    assert history(db_session, 9) == [("state", "In-Transit", "In-Stock", "update", ACTOR)]


def test_create_action_with_a_list_appends_by_default(db_session):
    entries = [history_entry("valuation", None, 500), history_entry("location", None, "Hall")]
    update_item(
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
    update_item(
        db_session, 9, {"item_history": {"action": "create", "values": history_entry("state", None, "X")}}
    )
    assert [h[2] for h in history(db_session, 9)] == ["X"]


def test_create_action_append_false_replaces_the_collection(db_session):
    # One-to-many with delete-orphan: the old history rows go.
    update_item(
        db_session, 1, {"item_history": append_history(history_entry("state", None, "Reset"), append=False)}
    )
    assert history(db_session, 1) == [("state", None, "Reset", "update", ACTOR)]
    assert scalar(db_session, 'SELECT count(*) FROM "Item_History"') == 9 - 3 + 1

    # Many-to-many: the item is detached from its old notes, which remain.
    _, body = update_item(
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
    _, body = update_item(
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
    update_item(db_session, 3, {"dealer": {"action": "create_through_rel", "values": {"age": 3}}})
    assert scalar(db_session, 'SELECT age FROM "Dealer" WHERE id = 2') == 3
    update_item(db_session, 9, {"dealer": {"action": "create_through_rel", "values": {"age": 3}}})
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
