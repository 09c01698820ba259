"""POST /api/schemes/get_items through `lambda_handler`, in-process, on real committed data: paging and limits.

Every test builds an API Gateway REST (v1 proxy) event from the base event (`support.event`, the
shape `sam local generate-event apigateway aws-proxy` produces, with the Cognito authorizer's
claims) and a request body (often a file in `bodies/`), invokes the handler as Lambda would
(get_items_support.py), and checks the response against docs/contract.md §2 (the envelope and the
error rules) and §3 (the read grammar). Every response body is checked by `support.invoke`.
"""

from __future__ import annotations

from typing import Any

import pytest

from dataapi.models import Dealer, Item
from dataapi.settings import get_settings
from tests.handler.get_items_support import items, ok, refused, request_of, utc
from tests.handler.support import Db

# ---- paging ------------------------------------------------------------------------------------


def test_cursor_pages_by_id_descending(db: Db) -> None:
    """GIVEN five items
    WHEN the list is paged two at a time, passing the last id back as the cursor
    THEN the pages are the ids in descending order without overlap, then an empty page."""
    ids = [row.id for row in db.add(*(Item(article_number=f"A{i}") for i in range(5)))]
    expected = sorted(ids, reverse=True)

    pages: list[list[int]] = []
    cursor: int | None = None
    for _ in range(4):
        reply = ok(request_of("get_items_item_list", per_page=2, cursor=cursor))
        pages.append(reply.ids)
        if not reply.ids:
            break
        cursor = reply.ids[-1]

    assert pages == [expected[0:2], expected[2:4], expected[4:5], []]


def test_scroll_back_by_id_in_returns_exactly_those_rows(db: Db) -> None:
    """GIVEN five items
    WHEN the front end reloads rows it has seen with {"id": {"operation": "in", ...}}
    THEN exactly those rows come back, newest first; one id alone works too."""
    ids = [row.id for row in db.add(*(Item(article_number=f"A{i}") for i in range(5)))]
    wanted = [ids[3], ids[0], ids[1]]

    reply = ok(request_of("get_items_item_list", query_filters={"id": {"operation": "in", "value": wanted}}))
    assert reply.ids == sorted(wanted, reverse=True)

    reply = ok(request_of("get_items_item_list", query_filters={"id": {"operation": "in", "value": ids[2]}}))
    assert reply.ids == [ids[2]]


def test_no_per_page_returns_all_rows(db: Db) -> None:
    """GIVEN seven items WHEN per_page is omitted THEN all come back (up to the maximum)."""
    db.add(*(Item(article_number=f"A{i}") for i in range(7)))

    reply = ok(items(["id"]))

    assert len(reply.ids) == 7
    assert reply.envelope["next_cursor"] is None


# Rows for order_by: ties and NULLs in the sort column, and items without a dealer.
ORDER_ROWS = [
    ("a", 300, "Beta", utc(2025, 1, 3)),
    ("b", 100, None, utc(2025, 1, 1)),
    ("c", None, "Alpha", utc(2025, 1, 3)),
    ("d", 300, "Alpha", None),
    ("e", 200, None, utc(2025, 1, 2)),
    ("f", None, "Beta", utc(2025, 1, 3)),
    ("g", 300, None, None),
    ("h", 100, "Alpha", utc(2025, 1, 1)),
    ("i", None, None, utc(2025, 1, 2)),
    ("j", 200, "Beta", utc(2025, 1, 3)),
]


def _expected_order(rows: list[dict[str, Any]], field: str, desc: bool) -> list[int]:
    """PostgreSQL's order: ASC NULLS LAST / DESC NULLS FIRST; ties by id in the same direction."""
    present = [r for r in rows if r[field] is not None]
    missing = [r for r in rows if r[field] is None]
    present.sort(key=lambda r: (r[field], r["id"]), reverse=desc)
    missing.sort(key=lambda r: r["id"], reverse=desc)
    ordered = missing + present if desc else present + missing
    return [r["id"] for r in ordered]


@pytest.mark.parametrize(
    "spec",
    [
        "purchased_price",
        "-purchased_price",
        "dealer.dealer_name",
        "-dealer.dealer_name",
        "-created_at",
        "created_at",
    ],
)
@pytest.mark.parametrize("per_page", [1, 3, 4])
def test_order_by_next_cursor_pages_all_rows_without_duplicates_or_gaps(
    db: Db, spec: str, per_page: int
) -> None:
    """GIVEN ten items whose sort values tie and include NULLs (also through a missing dealer)
    WHEN they are paged with order_by, passing next_cursor back
    THEN the concatenated pages are every row exactly once, in the requested order."""
    dealers = {name: Dealer(dealer_name=name) for name in ("Alpha", "Beta")}
    created = db.add(
        *(
            Item(article_number=art, purchased_price=price, dealer=dealers.get(dealer), created_at=when)
            for art, price, dealer, when in ORDER_ROWS
        )
    )
    model = [
        {"id": row.id, "purchased_price": price, "dealer.dealer_name": dealer, "created_at": when}
        for row, (_, price, dealer, when) in zip(created, ORDER_ROWS, strict=True)
    ]
    desc = spec.startswith("-")
    expected = _expected_order(model, spec.lstrip("-"), desc)

    seen: list[int] = []
    cursor: str | None = None
    for _ in range(len(ORDER_ROWS) + 2):
        reply = ok(items(["id"], order_by=[spec], per_page=per_page, cursor=cursor))
        assert len(reply.ids) <= per_page
        seen.extend(reply.ids)
        cursor = reply.envelope["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    else:
        pytest.fail("paging did not end")

    assert seen == expected


def test_order_by_two_keys_with_next_cursor(db: Db) -> None:
    """GIVEN ten items with tied prices (NULLs included) and tied article numbers
    WHEN ordered by price descending then article ascending, two per page
    THEN the pages follow that order, ties on both broken by id (in the first key's direction)."""
    articles = ["x" if i % 3 == 0 else art for i, (art, *_) in enumerate(ORDER_ROWS)]
    created = db.add(
        *(
            Item(article_number=art, purchased_price=row[1])
            for art, row in zip(articles, ORDER_ROWS, strict=True)
        )
    )
    # -purchased_price: NULLs first, then high to low; article_number ascending; id descending.
    expected = [
        r.id
        for r in sorted(
            created,
            key=lambda r: (r.purchased_price is not None, -(r.purchased_price or 0), r.article_number, -r.id),
        )
    ]

    seen: list[int] = []
    cursor = None
    for _ in range(len(created) + 1):
        reply = ok(items(["id"], order_by=["-purchased_price", "article_number"], per_page=2, cursor=cursor))
        seen.extend(reply.ids)
        cursor = reply.envelope["next_cursor"]
        if cursor is None:
            break

    assert seen == expected


def test_integer_cursor_with_order_by_is_refused(db: Db) -> None:
    """GIVEN order_by WHEN an integer cursor is sent THEN 400 pointing at /cursor."""
    db.add(Item())

    reply = refused(items(order_by=["purchased_price"], cursor=5))

    assert "/cursor" in reply.envelope["server_message"]


def test_foreign_cursor_is_refused(db: Db) -> None:
    """GIVEN a next_cursor made for one order WHEN it is sent with another order THEN 400 at /cursor."""
    db.add(Item(purchased_price=1), Item(purchased_price=2))
    cursor = ok(items(order_by=["purchased_price"], per_page=1)).envelope["next_cursor"]
    assert isinstance(cursor, str)

    reply = refused(items(order_by=["-purchased_price"], per_page=1, cursor=cursor))
    assert "/cursor" in reply.envelope["server_message"]
    reply = refused(items(order_by=["purchased_price"], per_page=1, cursor="not-a-cursor"))
    assert "/cursor" in reply.envelope["server_message"]


def test_count_true_returns_the_total_of_all_pages(db: Db) -> None:
    """GIVEN five In-Stock items and two others
    WHEN one page of two is asked with count: true and a state filter
    THEN count is the total of matching rows (5), not the page size."""
    db.add(*(Item(state="In-Stock") for _ in range(5)), Item(state="Sold"), Item(state=None))

    reply = ok(items(query_filters={"state": "In-Stock"}, per_page=2, count=True))

    assert len(reply.body) == 2
    assert reply.envelope["count"] == 5
    assert "count" not in ok(items(per_page=2)).envelope


# ---- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_page", [1001, 0, -1])
def test_per_page_outside_the_default_range_is_refused_naming_per_page(db: Db, per_page: int) -> None:
    """GIVEN the default maximum of 1000 WHEN per_page is beyond it (or below 1) THEN 400 naming per_page."""
    reply = refused(request_of("get_items_item_list", per_page=per_page))

    assert "per_page" in reply.envelope["message"]
    assert "/per_page" in reply.envelope["server_message"]


def test_per_page_maximum_is_configuration(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN MAX_PER_PAGE=3 WHEN per_page is 4 THEN 400; omitted, at most 3 rows come back."""
    db.add(*(Item() for _ in range(5)))
    monkeypatch.setenv("MAX_PER_PAGE", "3")
    get_settings.cache_clear()

    reply = refused(items(per_page=4))
    assert "/per_page" in reply.envelope["server_message"]
    assert len(ok(items()).body) == 3


def test_response_over_the_size_limit_is_400_naming_per_page(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN MAX_RESPONSE_BYTES=300 and rows whose JSON exceeds it
    WHEN they are read THEN 400 naming per_page (never a 502); a small page still passes."""
    db.add(*(Item(article_number=f"2512-{i:03}", properties={"text": "x" * 40}) for i in range(10)))
    monkeypatch.setenv("MAX_RESPONSE_BYTES", "300")
    get_settings.cache_clear()

    reply = refused(items(["id", "article_number", "properties"]))
    assert "per_page" in reply.envelope["message"]
    assert "/per_page" in reply.envelope["server_message"]
    assert len(ok(items(["id"], per_page=2)).body) == 2
