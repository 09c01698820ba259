"""Compile-only tests of statement reuse per read shape (dataapi.query.shapes).

A read of a shape already seen reuses that shape's statement with its own values: the SQL and
the values sent must be exactly those of a statement built for it from scratch.
"""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.dialects.postgresql import pg8000

from dataapi.query import cursor
from dataapi.reads import PreparedRead, compile_read, validate
from dataapi.registry import default_registry
from dataapi.settings import Settings
from tests.support.read_shapes import PAIRS

NOW = datetime(2025, 12, 5, 13, 45, 10, tzinfo=UTC)
DIALECT = pg8000.dialect()


def prepared(request: dict[str, Any], reuse: bool = True) -> PreparedRead:
    raw = {"model_name": "Item", "requested_data": ["id", {"dealer": ["dealer_name"]}], **request}
    valid = validate(raw, default_registry(), Settings(), NOW)
    return compile_read(valid, valid.filters, DIALECT, reuse=reuse)


def sent(read: PreparedRead) -> tuple[str, dict[str, Any]]:
    """The SQL and the values the driver would receive."""
    compiled = read.compiled
    return str(compiled), compiled.construct_params(read.params)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_a_second_read_of_a_shape_reuses_its_statement_with_exactly_its_own_values(name: str) -> None:
    first, second = PAIRS[name]
    a = prepared({"query_filters": first, "per_page": 7})
    b = prepared({"query_filters": second, "per_page": 7})

    assert b.query.statement is a.query.statement
    assert sent(b) == sent(prepared({"query_filters": second, "per_page": 7}, reuse=False))
    assert sent(a) == sent(prepared({"query_filters": first, "per_page": 7}, reuse=False))


def test_cursors_and_counts_are_rebound_too() -> None:
    specs = ["-purchased_price", "-id"]
    request = {"order_by": ["-purchased_price"], "count": True, "query_filters": {"state": "Sold"}}
    a = prepared({**request, "cursor": cursor.encode(specs, [900, 4])})
    b = prepared({**request, "cursor": cursor.encode(specs, [500, 9]), "query_filters": {"state": "X"}})

    fresh = prepared(
        {**request, "cursor": cursor.encode(specs, [500, 9]), "query_filters": {"state": "X"}}, False
    )
    assert b.query is a.query
    assert sent(b) == sent(fresh)
    assert fresh.query.count is not None and b.query.count is not None
    count = b.query.count.compile(dialect=DIALECT)
    fresh_count = fresh.query.count.compile(dialect=DIALECT)
    assert count.construct_params(b.count_params) == fresh_count.construct_params()


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"query_filters": {"state": ["Sold", "X"]}}, {"query_filters": {"state": ["Sold", None]}}),
        ({"query_filters": {"state": ["Sold", "X"]}}, {"query_filters": {"state": ["Sold", "X", "Y"]}}),
        ({"query_filters": {"state": "Sold"}}, {"query_filters": {"state": "Sold"}, "per_page": 3}),
        (
            {"order_by": ["location"], "cursor": cursor.encode(["location", "id"], ["A", 3])},
            {"order_by": ["location"], "cursor": cursor.encode(["location", "id"], [None, 3])},
        ),
    ],
)
def test_what_changes_the_sql_is_part_of_the_shape(one: dict, other: dict) -> None:
    """A null (IS NULL instead of a comparison), a list's length, the page size: another statement."""
    assert prepared(one).query.statement is not prepared(other).query.statement


def test_contains_on_text_binds_its_value_as_sent() -> None:
    """`contains` escapes LIKE's wildcards in SQL (replace(), ESCAPE '/'), not in Python: its value
    is bound as sent, so it is rebound like any other."""
    a = prepared({"query_filters": {"type": {"operation": "contains", "value": "50%"}}})
    b = prepared({"query_filters": {"type": {"operation": "contains", "value": "chair"}}})

    assert b.query.statement is a.query.statement
    sql, values = sent(a)
    assert "ESCAPE '/'" in sql and "replace(" in sql
    assert "50%" in values.values()
