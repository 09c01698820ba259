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


# Pairs of reads of one shape with different values: every operator that takes a value, lists
# with and without nulls, paths through relationships and JSON, groups, a cursor, a count.
PAIRS = {
    "==": ({"state": "Sold"}, {"state": "In-Stock"}),
    "!=": ({"state": {"operation": "!=", "value": "Sold"}}, {"state": {"operation": "!=", "value": "X"}}),
    "> and <=": (
        {"purchased_price": {"operation": ">", "value": 5}, "valuation": {"operation": "<=", "value": 9}},
        {"purchased_price": {"operation": ">", "value": 7}, "valuation": {"operation": "<=", "value": 1}},
    ),
    "contains on text": (
        {"type": {"operation": "contains", "value": "50%_/"}},
        {"type": {"operation": "contains", "value": "chair"}},
    ),
    "like / ilike": (
        {
            "type": {"operation": "like", "value": "% chair"},
            "location": {"operation": "ilike", "value": "a%"},
        },
        {"type": {"operation": "like", "value": "sofa%"}, "location": {"operation": "ilike", "value": "%b"}},
    ),
    "in": ({"state": ["Sold", "In-Stock"]}, {"state": ["Reserved", "In-Transit"]}),
    "in with a null": ({"state": ["Sold", None]}, {"state": ["Reserved", None]}),
    "notin": (
        {"location": {"operation": "notin", "value": ["A", "B", "C"]}},
        {"location": {"operation": "notin", "value": ["D", "E", "F"]}},
    ),
    "range, one end open": (
        {"purchased_price": {"operation": "range", "value": {"start": 1}}},
        {"purchased_price": {"operation": "range", "value": {"start": 1000}}},
    ),
    "dates": (
        {"created_at": {"operation": ">=", "value": "2025-01-01T00:00:00Z"}},
        {"created_at": {"operation": ">=", "value": "2025-06-30T12:00:00Z"}},
    ),
    "json path": ({"properties.set_of": 6}, {"properties.set_of": 2}),
    "json path in a list": (
        {"properties.style": {"operation": "in", "value": ["a", "b"]}},
        {"properties.style": {"operation": "in", "value": ["c", "d"]}},
    ),
    "json value": (
        {"properties": {"operation": "==", "value": {"set_of": 2}}},
        {"properties": {"operation": "==", "value": {"style": "x"}}},
    ),
    "notin with a null, range of dates": (
        {
            "location": {"operation": "notin", "value": ["A", None]},
            "created_at": {"operation": "range", "value": {"start": "2025-01-01", "end": "2025-02-01"}},
        },
        {
            "location": {"operation": "notin", "value": ["B", None]},
            "created_at": {"operation": "range", "value": {"start": "2024-01-01", "end": "2024-03-01"}},
        },
    ),
    "is_null beside a value": (
        {"sold_price": None, "state": "Sold"},
        {"sold_price": None, "state": "Reserved"},
    ),
    "json keys": (
        {"properties": {"operation": "has_any", "value": ["a", "b"]}},
        {"properties": {"operation": "has_any", "value": ["c", "d"]}},
    ),
    "has_key and contained_by": (
        {
            "properties": {"operation": "has_key", "value": "x"},
            "missing_parts": {"operation": "contained_by", "value": ["k"]},
        },
        {
            "properties": {"operation": "has_key", "value": "y"},
            "missing_parts": {"operation": "contained_by", "value": ["c"]},
        },
    ),
    "through relationships": (
        {"dealer.dealer_name": "A", "notes.note_content": {"operation": "ilike", "value": "%x%"}},
        {"dealer.dealer_name": "B", "notes.note_content": {"operation": "ilike", "value": "%y%"}},
    ),
    "groups": (
        {"$or": [{"state": "Sold"}, {"category": "Sofa", "valuation": 5}]},
        {"$or": [{"state": "Reserved"}, {"category": "Chair", "valuation": 9}]},
    ),
    "not": (
        {"category": {"operation": "not", "value": {"operation": "in", "value": ["Chair"]}}},
        {"category": {"operation": "not", "value": {"operation": "in", "value": ["Sofa"]}}},
    ),
}


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
