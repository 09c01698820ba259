"""Nested writes done set-based: statement counts for links and appended children, on real data.

A batch of members that only link (no nested creates, no also_do, no link-or-create) is written
together: one lookup per link target model, one multi-row INSERT per table. Children created
under a one-to-many are appended through their many-to-one key (no collection load), and a
row's columns and to-one links go out in one UPDATE.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dataapi.errors import NotFound
from dataapi.models import Dealer, Item, Item_History, Item_Note, Item_Notes_Subject
from dataapi.registry import default_registry
from dataapi.settings import Settings
from tests.integration.writes_support import statements
from tests.support.engine import create, update


def note(content: str, subject: str, articles: list[str]) -> dict[str, Any]:
    return {
        "model_name": "Item_Note",
        "object_values": {
            "note_content": content,
            "subject": {
                "action": "link",
                "values": {
                    "Item_Notes_Subject": {"query_filters": {"subject": subject}, "link_type": "first_link"}
                },
            },
            "items": {
                "action": "link",
                "values": {
                    "Item": {
                        "query_filters": {"article_number": {"operation": "in", "value": articles}},
                        "link_type": "all_link",
                    }
                },
            },
        },
    }


@pytest.fixture
def catalogue(db_session: Session) -> dict[str, Any]:
    subjects = [Item_Notes_Subject(subject=f"sb-subject-{i}") for i in range(3)]
    items = [Item(article_number=f"sb-{i:03d}") for i in range(30)]
    db_session.add_all(subjects + items)
    db_session.flush()
    return {"subjects": subjects, "items": items}


def run_create(session: Session, raw: Any) -> list[Any]:
    return json.loads(create(session, raw, "tester", default_registry(), Settings()).body)


@pytest.mark.parametrize("members", [2, 25])
def test_a_batch_of_linking_notes_is_a_constant_handful_of_statements(
    db_session: Session, catalogue: dict[str, Any], members: int
) -> None:
    """GIVEN a batch of notes, each linking a subject (first_link) and items (all_link by `in`)
    WHEN it is created
    THEN 4 statements whatever its size (a lookup per target model, an INSERT per table), and
    every note holds its subject and items."""
    batch = [
        note(f"sb-note-{i}", f"sb-subject-{i % 3}", [f"sb-{(i + k) % 30:03d}" for k in range(3)])
        for i in range(members)
    ]
    with statements(db_session) as seen:
        body = run_create(db_session, batch)
    assert len(body) == members
    assert len(seen) == 4, seen
    db_session.expire_all()
    notes = db_session.scalars(select(Item_Note).where(Item_Note.note_content.like("sb-note-%"))).all()
    assert len(notes) == members
    for n in notes:
        i = int(n.note_content.rsplit("-", 1)[1])
        assert n.subject.subject == f"sb-subject-{i % 3}"
        assert sorted(x.article_number for x in n.items) == sorted(f"sb-{(i + k) % 30:03d}" for k in range(3))


def test_a_link_that_matches_nothing_in_a_merged_batch_names_its_member(
    db_session: Session, catalogue: dict[str, Any]
) -> None:
    batch = [note("sb-a", "sb-subject-0", ["sb-001"]), note("sb-b", "sb-subject-1", ["sb-002"])]
    batch.append(note("sb-c", "no such subject", ["sb-003"]))
    with pytest.raises(NotFound) as refused:
        run_create(db_session, batch)
    assert refused.value.at == "/2/object_values/subject"


def test_a_later_member_links_what_an_earlier_member_created(
    db_session: Session, catalogue: dict[str, Any]
) -> None:
    """GIVEN a batch whose first note creates a subject (a nested create) and whose second links it
    WHEN it is created
    THEN the second finds the subject: lookups still see every row written before them."""
    first = {
        "model_name": "Item_Note",
        "object_values": {
            "note_content": "sb-first",
            "subject": {
                "action": "create",
                "sub_model_name": "Item_Notes_Subject",
                "values": {"subject": "sb-fresh"},
            },
        },
    }
    run_create(db_session, [first, note("sb-second", "sb-fresh", ["sb-004"])])
    second = db_session.scalars(select(Item_Note).where(Item_Note.note_content == "sb-second")).one()
    assert second.subject.subject == "sb-fresh"


def test_an_update_with_a_link_and_a_child_is_one_update_and_one_insert(db_session: Session) -> None:
    """GIVEN an item with 20 history rows
    WHEN one update sets two columns, links a dealer and creates a history row
    THEN the dealer is looked up, the item updated once (columns and dealer together) and the
    history row inserted with its item: no row loaded, nothing updated twice."""
    dealer = Dealer(dealer_name="sb-dealer")
    item = Item(article_number="sb-upd", item_history=[Item_History(column_name="state") for _ in range(20)])
    db_session.add_all([dealer, item])
    db_session.flush()
    raw = {
        "model_name": "Item",
        "query_filters": {"id": item.id},
        "update_type": "first_match",
        "object_values": {
            "state": "Sold",
            "location": "Shelf 9",
            "dealer": {
                "action": "link",
                "values": {"Dealer": {"query_filters": {"id": dealer.id}, "link_type": "first_link"}},
            },
            "item_history": {
                "action": "create",
                "sub_model_name": "Item_History",
                "values": [{"column_name": "state", "to_value": "Sold"}],
            },
        },
    }
    db_session.expire_all()
    with statements(db_session) as seen:
        update(db_session, raw, "tester", default_registry(), Settings())
    kinds = [s.split()[0] + " " + s.split('"')[1] for s in seen]
    assert kinds == ["SELECT Dealer", "UPDATE Item", "INSERT Item_History"], seen
    assert "dealer_id" in seen[1] and "location" in seen[1]
    db_session.expire_all()
    got = db_session.get(Item, item.id)
    assert (got.state, got.location, got.dealer.dealer_name) == ("Sold", "Shelf 9", "sb-dealer")
    assert len(got.item_history) == 21
    assert sum(h.user_name == "tester" for h in got.item_history) == 1


def link_and_log(filters: dict[str, Any], dealer_filters: dict[str, Any], update_type: str) -> dict[str, Any]:
    return {
        "model_name": "Item",
        "query_filters": filters,
        "update_type": update_type,
        "object_values": {
            "item_history": {
                "action": "create",
                "sub_model_name": "Item_History",
                "values": [{"column_name": "x"}, {"column_name": "y"}],
            },
            "dealer": {
                "action": "link",
                "values": {"Dealer": {"query_filters": dealer_filters, "link_type": "first_link"}},
            },
        },
    }


def test_an_all_matches_update_links_and_logs_every_matched_row(db_session: Session) -> None:
    dealers = [Dealer(dealer_name="sb-d1"), Dealer(dealer_name="sb-d1")]
    items = [Item(article_number=f"sb-all-{i}") for i in range(3)]
    db_session.add_all(dealers + items)
    db_session.flush()
    raw = link_and_log(
        {"article_number": {"operation": "like", "value": "sb-all-%"}},
        {"dealer_name": "sb-d1"},
        "all_matches",
    )
    body = update(
        db_session, {**raw, "requested_data": ["id"]}, "tester", default_registry(), Settings()
    ).body
    assert sorted(r["id"] for r in json.loads(body)) == sorted(i.id for i in items)
    db_session.expire_all()
    newest = max(d.id for d in dealers)  # first_link takes the first match: the highest id
    for item in items:
        got = db_session.get(Item, item.id)
        assert got.dealer_id == newest
        assert sorted(h.column_name for h in got.item_history) == ["x", "y"]


def test_which_404_an_update_with_a_missing_link_answers(db_session: Session) -> None:
    """GIVEN an update whose link matches nothing
    WHEN its filters match nothing either, or match a row
    THEN the update's own 404 comes first, else the link's, naming the link; nothing written."""
    item = Item(article_number="sb-404")
    db_session.add(item)
    db_session.flush()
    with pytest.raises(NotFound) as nothing:
        update(
            db_session,
            link_and_log({"id": -1}, {"id": -1}, "first_match"),
            "tester",
            default_registry(),
            Settings(),
        )
    assert nothing.value.at == "/query_filters"
    with pytest.raises(NotFound) as no_dealer:
        update(
            db_session,
            link_and_log({"id": item.id}, {"id": -1}, "first_match"),
            "tester",
            default_registry(),
            Settings(),
        )
    assert no_dealer.value.at == "/object_values/dealer"
    assert db_session.scalars(select(Item_History).where(Item_History.item_id == item.id)).all() == []
