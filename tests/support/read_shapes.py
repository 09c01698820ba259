"""Reads of one shape with different values, shared by the compile-only tier (tests/unit/test_shapes.py:
a statement reused per shape) and the integration tier (tests/integration/test_read_driver.py: the
driver receives the same SQL and values both ways)."""

from __future__ import annotations

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
