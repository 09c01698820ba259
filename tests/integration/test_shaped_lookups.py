"""Link lookups grouped by filter shape (dataapi.mutate.lookups), on real data.

The links of a merged batch whose filters differ only in their values are found by one LATERAL
subquery over a VALUES list of those values. Each member must link exactly what its own filter
finds on its own (the rows an SQL query of that filter returns), whatever the operators, NULLs,
types and number of matches; refusals must name the member whose link refused.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dataapi.errors import LimitExceeded, NotFound
from dataapi.models import Item, Item_Note, Item_Notes_Subject
from dataapi.registry import default_registry
from dataapi.settings import Settings
from tests.integration.writes_support import counts, statements
from tests.support.engine import create


def note(content: str, items: dict[str, Any], link_type: str = "all_link") -> dict[str, Any]:
    return {
        "model_name": "Item_Note",
        "object_values": {
            "note_content": content,
            "items": {
                "action": "link",
                "values": {"Item": {"query_filters": items, "link_type": link_type}},
            },
        },
    }


@pytest.fixture
def shelf(db_session: Session) -> list[Item]:
    """40 items: prices 0-9 four times over, a category on three items in four (None on the rest)."""
    items = [
        Item(
            article_number=f"sh-{i:03d}", purchased_price=i % 10, category=None if i % 4 == 0 else f"c{i % 3}"
        )
        for i in range(40)
    ]
    db_session.add_all(items)
    db_session.flush()
    return items


def linked(session: Session, content: str) -> list[int]:
    session.expire_all()
    found = session.scalars(select(Item_Note).where(Item_Note.note_content == content)).one()
    return sorted(i.id for i in found.items)


def expected(session: Session, where: str, **params: Any) -> list[int]:
    sql = f'SELECT id FROM "Item" WHERE {where} ORDER BY id'  # every item, as the link's filter
    return [r[0] for r in session.execute(text(sql), params)]


def run(session: Session, batch: list[dict[str, Any]], settings: Settings | None = None) -> list[Any]:
    return json.loads(create(session, batch, "tester", default_registry(), settings or Settings()).body)


def test_each_member_links_what_its_own_filter_finds(db_session: Session, shelf: list[Item]) -> None:
    """GIVEN a batch whose members share filter shapes (`in` lists with and without a NULL,
    comparisons on an integer column, `!=`, `and` groups) and some of a shape of their own
    WHEN it is created
    THEN every note holds exactly the rows its filter matches in SQL, NULLs matched as the filter
    compiler matches them (a NULL in an `in` list is IS NULL)."""
    price = {"operation": ">=", "value": 0}
    cases = [
        (
            "sh-in-a",
            {"category": {"operation": "in", "value": ["c1", None]}},
            "category = 'c1' OR category IS NULL",
        ),
        (
            "sh-in-b",
            {"category": {"operation": "in", "value": ["c2", None]}},
            "category = 'c2' OR category IS NULL",
        ),
        ("sh-in-c", {"category": {"operation": "in", "value": ["c0", "c1"]}}, "category IN ('c0', 'c1')"),
        ("sh-in-d", {"category": {"operation": "in", "value": ["c2", "nothing"]}}, "category IN ('c2')"),
        ("sh-ge-a", {"purchased_price": {"operation": ">=", "value": 8}}, "purchased_price >= 8"),
        ("sh-ge-b", {"purchased_price": {"operation": ">=", "value": 9}}, "purchased_price >= 9"),
        ("sh-ne-a", {"category": {"operation": "!=", "value": "c1"}}, "category IS DISTINCT FROM 'c1'"),
        ("sh-ne-b", {"category": {"operation": "!=", "value": "c2"}}, "category IS DISTINCT FROM 'c2'"),
        (
            "sh-and-a",
            {"purchased_price": price, "category": "c0"},
            "purchased_price >= 0 AND category = 'c0'",
        ),
        (
            "sh-and-b",
            {"purchased_price": price, "category": "c2"},
            "purchased_price >= 0 AND category = 'c2'",
        ),
        ("sh-alone", {"article_number": "sh-007"}, "article_number = 'sh-007'"),
    ]
    with statements(db_session) as seen:
        body = run(db_session, [note(content, items) for content, items, _ in cases])
    assert len(body) == len(cases)
    assert len(seen) == 3, seen  # one lookup (Item), the notes, the links
    for content, _, where in cases:
        assert linked(db_session, content) == expected(db_session, where), content


def test_a_first_link_of_a_shared_shape_takes_each_members_newest_match(
    db_session: Session, shelf: list[Item]
) -> None:
    """GIVEN members whose first_link filters each match several items
    WHEN the batch is created
    THEN each note holds the newest (highest id) of its own matches."""
    batch = [note(f"sh-first-{p}", {"purchased_price": p}, "first_link") for p in range(10)]
    run(db_session, batch)
    for p in range(10):
        assert linked(db_session, f"sh-first-{p}") == expected(db_session, "purchased_price = :p", p=p)[-1:]


def test_a_shared_shape_member_that_finds_nothing_is_named(db_session: Session, shelf: list[Item]) -> None:
    """GIVEN a batch whose third member's first_link finds nothing (the others of its shape do)
    WHEN it is created
    THEN 404 at that member's link, nothing written."""
    db_session.add(Item_Notes_Subject(subject="sh-subject"))
    db_session.flush()
    before = counts(db_session)
    batch = [note(f"sh-miss-{p}", {"purchased_price": p}, "first_link") for p in (1, 2, 99, 3)]
    with pytest.raises(NotFound) as refused:
        run(db_session, batch)
    assert refused.value.at == "/2/object_values/items"
    assert counts(db_session) == before


def test_a_shared_shape_member_over_the_budget_is_refused_at_its_link(
    db_session: Session, shelf: list[Item]
) -> None:
    """GIVEN a rows-touched budget of 20 and a batch of two notes whose all_links match 4 and 30
    items (a shape they share)
    WHEN it is created
    THEN the second link is refused at its pointer (LimitExceeded), nothing written."""
    before = counts(db_session)
    batch = [
        note("sh-few", {"purchased_price": {"operation": ">=", "value": 9}}),
        note("sh-many", {"purchased_price": {"operation": ">=", "value": 2}}),
    ]
    with pytest.raises(LimitExceeded) as refused:
        run(db_session, batch, Settings(max_rows_touched=20))
    assert refused.value.at == "/1/object_values/items"
    assert counts(db_session) == before


TRICKY = ["sh,comma", 'sh"quote', "sh\\back", "sh{brace}", "NULL", "", " sh space ", "sh-ümlaut-✓", "sh'tick"]


def test_text_values_of_a_shared_shape_reach_the_database_as_sent(db_session: Session) -> None:
    """GIVEN items whose article numbers hold what an array literal must quote (commas, quotes,
    backslashes, braces, the word NULL, an empty string, spaces, non-ASCII)
    WHEN a batch of notes links each by `==` (one shape: one array of the values)
    THEN every note holds exactly the item of its own value."""
    items = [Item(article_number=a) for a in TRICKY]
    db_session.add_all(items)
    db_session.flush()
    run(db_session, [note(f"sh-tricky-{i}", {"article_number": a}) for i, a in enumerate(TRICKY)])
    for i, item in enumerate(items):
        assert linked(db_session, f"sh-tricky-{i}") == [item.id], TRICKY[i]
