"""POST /api/schemes/get_items through `lambda_handler`: a large page fetched as one row answers
exactly as the same page fetched as rows (dataapi.reads.ONE_ROW_FROM).

Pages of ONE_ROW_FROM rows or more are sent as one aggregated row, smaller ones as rows. Here the
same requests run with every page sent as rows and with every page sent as one row (the threshold
set to each end), at the sizes around the threshold: the bodies, next_cursor and count of every
page must be the same, and walking the pages must give every row once, in the requested order.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from dataapi import reads
from dataapi.models import Dealer, Item, Item_Note, Item_Notes_Subject
from tests.handler.get_items_support import items, ok, utc
from tests.handler.support import Db
from tests.support.pinning import Recorder

ROWS = 2 * reads.ONE_ROW_FROM  # a page of ONE_ROW_FROM ends exactly at the last row: then an empty page
SIZES = [reads.ONE_ROW_FROM - 1, reads.ONE_ROW_FROM, reads.ONE_ROW_FROM + 1]
FIELDS = [
    "id",
    "purchased_price",
    "created_at",
    {"dealer": ["dealer_name"]},
    {"notes": ["note_content", {"subject": ["subject"]}]},
]
AGGREGATED = "string_agg(page.row"


def _seed(db: Db) -> list[dict[str, Any]]:
    """ROWS items whose sort values tie and include NULLs (also through a missing dealer); some
    have notes, with and without a subject."""
    dealers = [Dealer(dealer_name=name) for name in ("Alpha", "Beta", "Gamma")]
    subject = Item_Notes_Subject(subject="Frame")
    created = []
    for i in range(ROWS):
        notes = [
            Item_Note(note_content=f"n{i}-{k}", subject=subject if k % 2 else None) for k in range(i % 3)
        ]
        created.append(
            Item(
                article_number=f"2512-{i:03}",
                purchased_price=None if i % 9 == 0 else 100 * (i % 4),
                created_at=None if i % 11 == 0 else utc(2025, 1, 1 + i % 5),
                dealer=None if i % 4 == 0 else dealers[i % 3],
                notes=notes,
            )
        )
    db.add(*created)
    return [
        {
            "id": row.id,
            "purchased_price": row.purchased_price,
            "created_at": row.created_at,
            "dealer.dealer_name": row.dealer.dealer_name if row.dealer else None,
        }
        for row in created
    ]


def _expected(rows: list[dict[str, Any]], spec: str | None) -> list[int]:
    """PostgreSQL's order: ASC NULLS LAST / DESC NULLS FIRST; ties by id in the same direction."""
    if spec is None:
        return sorted((r["id"] for r in rows), reverse=True)
    desc, field = spec.startswith("-"), spec.lstrip("-")
    present = sorted(
        (r for r in rows if r[field] is not None), key=lambda r: (r[field], r["id"]), reverse=desc
    )
    missing = sorted((r for r in rows if r[field] is None), key=lambda r: r["id"], reverse=desc)
    return [r["id"] for r in (missing + present if desc else present + missing)]


def _walk(
    request: dict[str, Any], sent: Recorder, monkeypatch: pytest.MonkeyPatch, *, one_row_from: int
) -> list[dict[str, Any]]:
    """Every page of `request` (next_cursor passed back until it is null), with pages of
    `one_row_from` rows or more sent as one row; checks that each page went in the form asked."""
    monkeypatch.setattr(reads, "ONE_ROW_FROM", one_row_from)
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(ROWS + 2):
        start = len(sent.statements)
        reply = ok({**request, "cursor": cursor})
        assert any(AGGREGATED in s for s in sent.statements[start:]) == (request["per_page"] >= one_row_from)
        envelope = reply.envelope
        pages.append(
            {"body": envelope["body"], "next_cursor": envelope["next_cursor"], "count": envelope["count"]}
        )
        cursor = envelope["next_cursor"]
        if cursor is None:
            return pages
    pytest.fail("paging did not end")


@pytest.mark.parametrize(
    "spec", [None, "purchased_price", "-purchased_price", "-dealer.dealer_name", "created_at"]
)
@pytest.mark.parametrize("per_page", SIZES)
def test_a_page_as_one_row_answers_as_the_page_as_rows(
    db: Db, sent_statements: Recorder, monkeypatch: pytest.MonkeyPatch, spec: str | None, per_page: int
) -> None:
    """GIVEN items whose sort values tie and include NULLs, some with notes
    WHEN every page of an order is read at the sizes around ONE_ROW_FROM, as rows and as one row
    THEN both forms answer the same bodies, next_cursor and count; the pages hold every row once,
    in order; a last full page is followed by an empty one with a null next_cursor."""
    expected = _expected(_seed(db), spec)
    request = items(FIELDS, per_page=per_page, count=True, **({"order_by": [spec]} if spec else {}))

    as_rows = _walk(request, sent_statements, monkeypatch, one_row_from=sys.maxsize)
    as_one_row = _walk(request, sent_statements, monkeypatch, one_row_from=1)

    assert as_one_row == as_rows
    assert [row["id"] for page in as_rows for row in page["body"]] == expected
    assert {page["count"] for page in as_rows} == {ROWS}
    assert [len(page["body"]) for page in as_rows[:-1]] == [per_page] * (len(as_rows) - 1)
    if ROWS % per_page == 0:
        assert as_rows[-1] == {"body": [], "next_cursor": None, "count": ROWS}
    assert any(row["notes"] and row["notes"][-1]["subject"] for page in as_rows for row in page["body"])


def test_an_empty_page_as_one_row_is_an_empty_list_without_a_cursor(
    db: Db, sent_statements: Recorder
) -> None:
    """GIVEN items WHEN a large page matches nothing THEN [] with a null next_cursor and count 0."""
    _seed(db)
    start = len(sent_statements.statements)
    reply = ok(items(FIELDS, per_page=reads.ONE_ROW_FROM, count=True, query_filters={"state": "none such"}))
    assert any(AGGREGATED in s for s in sent_statements.statements[start:])
    assert (reply.body, reply.envelope["next_cursor"], reply.envelope["count"]) == ([], None, 0)
