"""Compile-only tests of a large page fetched as one row (dataapi.query.select.one_row).

Pages of `ONE_ROW_FROM` rows or more are sent aggregated: the page statement itself, unchanged,
wrapped in one aggregate row (its JSON array, its size, the last row's sort values) in the page's
own order; smaller pages are sent as rows. tests/handler/test_get_items_pages.py shows that both
forms answer alike.
"""

import re
from typing import Any

from sqlalchemy import ARRAY, Integer
from sqlalchemy.dialects.postgresql import pg8000
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dataapi.query import cursor
from dataapi.reads import ONE_ROW_FROM, PreparedRead, compile_read, validate
from dataapi.registry import Registry, default_registry
from dataapi.settings import Settings
from tests.support.sql import NOW

DIALECT = pg8000.dialect()
FIELDS = ["id", {"dealer": ["dealer_name"]}]


def prepared(
    request: dict[str, Any], *, reuse: bool = False, registry: Registry | None = None
) -> PreparedRead:
    raw = {"model_name": "Item", "requested_data": FIELDS, **request}
    valid = validate(raw, registry or default_registry(), Settings(), NOW)
    return compile_read(valid, valid.filters, DIALECT, reuse=reuse)


def text(compiled: Any) -> str:
    return re.sub(r"::(VARCHAR|INTEGER)", "", " ".join(str(compiled).split()))


def test_a_page_below_the_threshold_is_sent_as_rows() -> None:
    read = prepared({"per_page": ONE_ROW_FROM - 1})

    assert read.one_row is None and read.query.one_row is None
    assert read.page is read.compiled
    assert text(read.page).startswith("SELECT CAST(json_build_object('id', t0.id, 'dealer', (SELECT")
    assert text(read.page).endswith('AS row, t0.id AS k0 FROM "Item" AS t0 ORDER BY t0.id DESC LIMIT %s')


def test_a_page_at_the_threshold_is_the_page_statement_aggregated_in_its_own_order() -> None:
    read = prepared({"per_page": ONE_ROW_FROM})
    rows = text(read.compiled)

    assert read.one_row is not None and read.page is read.one_row
    assert text(read.one_row) == (
        "SELECT concat('[', string_agg(page.row, ',' ORDER BY page.k0 DESC), ']') AS rows, "
        "count(*) AS size, (array_agg(page.k0 ORDER BY page.k0 DESC))[count(*)] AS k0 "
        f"FROM ({rows}) AS page"
    )


def test_every_sort_key_orders_the_aggregates_and_comes_back_as_the_last_rows() -> None:
    """ASC and DESC as the page orders them (the same default NULL placement), a to-one path's
    key included, and the primary key the page adds; the last row's value of each key."""
    read = prepared({"per_page": 500, "order_by": ["location", "-dealer.dealer_name"]})
    sql = text(read.page)

    order = "ORDER BY page.k0 ASC, page.k1 DESC, page.k2 ASC"
    assert sql.startswith(
        f"SELECT concat('[', string_agg(page.row, ',' {order}), ']') AS rows, count(*) AS size, "
    )
    assert sql.count(order) == 4
    for i in range(3):
        assert f"(array_agg(page.k{i} {order}))[count(*)] AS k{i}" in sql
    rows = text(read.compiled)
    assert sql.endswith(f" FROM ({rows}) AS page")
    assert "t0.location AS k0, (SELECT t1.dealer_name FROM" in rows and "AS k1, t0.id AS k2 FROM" in rows
    assert rows.endswith(
        'ORDER BY t0.location ASC, (SELECT t1.dealer_name FROM "Dealer" AS t1 WHERE t1.id = t0.dealer_id) DESC, '
        "t0.id ASC LIMIT %s"
    )


def test_filters_cursor_and_count_bind_the_same_values_in_both_forms() -> None:
    specs = ["-purchased_price", "-id"]
    request = {
        "per_page": ONE_ROW_FROM,
        "order_by": ["-purchased_price"],
        "count": True,
        "query_filters": {"state": "Sold", "article_number": {"operation": "ilike", "value": "25%"}},
        "cursor": cursor.encode(specs, [900, 4]),
    }
    read = prepared(request)
    assert read.one_row is not None
    assert read.one_row.construct_params() == read.compiled.construct_params()
    assert read.query.count is not None  # the count stays a statement of its own


def test_a_shape_reused_with_other_values_sends_them_in_its_one_row_statement() -> None:
    def request(state: str, after: list[Any]) -> dict[str, Any]:
        return {
            "per_page": ONE_ROW_FROM + 1,
            "order_by": ["-purchased_price"],
            "query_filters": {"state": state},
            "cursor": cursor.encode(["-purchased_price", "-id"], after),
        }

    first = prepared(request("Sold", [900, 4]), reuse=True)
    second = prepared(request("In-Stock", [500, 9]), reuse=True)
    fresh = prepared(request("In-Stock", [500, 9]))

    assert second.one_row is first.one_row is not None and fresh.one_row is not None
    assert str(second.one_row) == str(fresh.one_row)
    assert second.one_row.construct_params(second.params) == fresh.one_row.construct_params()


def test_the_form_is_part_of_the_shape() -> None:
    below = prepared({"per_page": ONE_ROW_FROM - 1}, reuse=True)
    at = prepared({"per_page": ONE_ROW_FROM}, reuse=True)
    assert below.one_row is None and at.one_row is not None


class _Base(DeclarativeBase):
    pass


class Tagged(_Base):
    __tablename__ = "Tagged"
    id: Mapped[int] = mapped_column(primary_key=True)
    tags: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))


def test_an_order_by_a_column_of_unknown_kind_is_sent_as_rows() -> None:
    """The last row's sort values come back as elements of arrays: a column that may itself be an
    array would come back wrong, so such a page stays rows whatever its size."""
    registry = Registry(_Base)
    raw = {"model_name": "Tagged", "requested_data": ["id"], "per_page": 1000, "order_by": ["tags"]}
    valid = validate(raw, registry, Settings(), NOW)
    read = compile_read(valid, valid.filters, DIALECT, reuse=False)
    assert registry.model("Tagged").columns["tags"].kind == "other"
    assert read.one_row is None

    raw["order_by"] = ["-id"]
    valid = validate(raw, registry, Settings(), NOW)
    assert compile_read(valid, valid.filters, DIALECT, reuse=False).one_row is not None
