"""Compile-only, table-driven: each filter operator (dataapi.query.operators.OPERATORS), each way of
combining conditions, nulls, JSON paths and relationship paths, as the WHERE clause of a read of
Item (request filters -> SQL text and the values bound), with no database.

Every row states the semantics it pins down; the placeholders are pyformat (`%(name)s`), an IN list
is one expanding parameter (`__[POSTCOMPILE_name]`), and `t0` is Item.
"""

from typing import Any

import pytest

from dataapi.query.operators import COMBINERS, OPERATORS
from tests.support.sql import where_of

P = pytest.param
TWO_KEYS = "CAST(ARRAY[%(param_1)s, %(param_2)s] AS TEXT[])"
ESCAPED = "replace(replace(replace(%(param_1)s, '/', '//'), '%', '/%'), '_', '/_')"
DEALER = 'EXISTS (SELECT 1 FROM "Dealer" AS t1 WHERE t1.id = t0.dealer_id'
NOTES = 'EXISTS (SELECT 1 FROM "Item_Note" AS t1 JOIN "Items_Notes" AS t2 ON t1.id = t2.note_id WHERE t2.item_id = t0.id'


def op(operation: str, value: Any = None) -> dict[str, Any]:
    return {"operation": operation, "value": value}


OPERATOR_ROWS = [
    # -- comparisons: a bound value; `!=` keeps NULL rows (IS DISTINCT FROM, not <>)
    P({"state": "Sold"}, "t0.state = %(state_1)s", {"state_1": "Sold"}, id="a plain value is =="),
    P({"state": op("==", "Sold")}, "t0.state = %(state_1)s", {"state_1": "Sold"}, id="=="),
    P({"state": op("!=", "Sold")}, "t0.state IS DISTINCT FROM %(state_1)s", {"state_1": "Sold"},
      id="!= is IS DISTINCT FROM: rows without a value match"),
    P({"purchased_price": op(">", 500)}, "t0.purchased_price > %(purchased_price_1)s",
      {"purchased_price_1": 500}, id=">"),
    P({"purchased_price": op(">=", 500)}, "t0.purchased_price >= %(purchased_price_1)s",
      {"purchased_price_1": 500}, id=">="),
    P({"purchased_price": op("<", 500)}, "t0.purchased_price < %(purchased_price_1)s",
      {"purchased_price_1": 500}, id="<"),
    P({"purchased_price": op("<=", 500)}, "t0.purchased_price <= %(purchased_price_1)s",
      {"purchased_price_1": 500}, id="<="),
    # -- patterns: the value is the pattern as sent (wildcards are the caller's)
    P({"article_number": op("like", "2512-%")}, "t0.article_number LIKE %(article_number_1)s",
      {"article_number_1": "2512-%"}, id="like"),
    P({"article_number": op("ilike", "%abc%")}, "t0.article_number ILIKE %(article_number_1)s",
      {"article_number_1": "%abc%"}, id="ilike"),
    # -- lists: NULL is never IN a list, so a listed null adds IS NULL; notin keeps NULL rows unless
    #    a null is listed
    P({"state": op("in", ["Sold", "In-Stock"])}, "t0.state IN (__[POSTCOMPILE_state_1])",
      {"state_1": ["Sold", "In-Stock"]}, id="in"),
    P({"state": ["Sold", "In-Stock"]}, "t0.state IN (__[POSTCOMPILE_state_1])",
      {"state_1": ["Sold", "In-Stock"]}, id="a plain list is in"),
    P({"state": op("notin", ["Sold"])}, "(t0.state NOT IN (__[POSTCOMPILE_state_1])) OR t0.state IS NULL",
      {"state_1": ["Sold"]}, id="notin keeps rows without a value"),
    # -- range: inclusive bounds, either may be left out
    P({"purchased_price": op("range", {"start": 100, "end": 500})},
      "t0.purchased_price >= %(purchased_price_1)s AND t0.purchased_price <= %(purchased_price_2)s",
      {"purchased_price_1": 100, "purchased_price_2": 500}, id="range is inclusive at both ends"),
    P({"purchased_price": op("range", {"start": 100})}, "t0.purchased_price >= %(purchased_price_1)s",
      {"purchased_price_1": 100}, id="range without an end"),
    P({"purchased_price": op("range", {"end": 500})}, "t0.purchased_price <= %(purchased_price_1)s",
      {"purchased_price_1": 500}, id="range without a start"),
    # -- containment: on text a substring, its wildcards escaped (replace() and ESCAPE '/');
    #    on JSON jsonb's @> and <@
    P({"article_number": op("contains", "5%_/")},
      f"(t0.article_number LIKE '%' || {ESCAPED} || '%' ESCAPE '/')", {"param_1": "5%_/"},
      id="contains on text is a LIKE with the value's wildcards escaped"),
    P({"properties": op("contains", {"color": "red"})}, "t0.properties @> %(param_1)s::JSONB",
      {"param_1": {"color": "red"}}, id="contains on JSON is @>"),
    P({"images": op("contained_by", ["a", "b"])}, "t0.images <@ %(param_1)s::JSONB",
      {"param_1": ["a", "b"]}, id="contained_by is <@"),
    # -- JSON keys: ? ?| ?& (the keys a text array)
    P({"properties": op("has_key", "color")}, "t0.properties ? %(param_1)s", {"param_1": "color"},
      id="has_key is ?"),
    P({"properties": op("has_any", ["a", "b"])}, f"t0.properties ?| {TWO_KEYS}",
      {"param_1": "a", "param_2": "b"}, id="has_any is ?| over a text array"),
    P({"properties": op("has_all", ["a", "b"])}, f"t0.properties ?& {TWO_KEYS}",
      {"param_1": "a", "param_2": "b"}, id="has_all is ?& over a text array"),
    # -- nulls
    P({"dealer_id": op("is_null")}, "t0.dealer_id IS NULL", {}, id="is_null"),
    P({"dealer_id": op("not_null")}, "t0.dealer_id IS NOT NULL", {}, id="not_null"),
]  # fmt: skip

NULL_ROWS = [
    P({"dealer_id": None}, "t0.dealer_id IS NULL", {}, id="a plain null is IS NULL, not = NULL"),
    P({"state": op("==", None)}, "t0.state IS NULL", {}, id="== null is IS NULL"),
    P({"state": op("in", ["Sold", None])}, "t0.state IN (__[POSTCOMPILE_state_1]) OR t0.state IS NULL",
      {"state_1": ["Sold"]}, id="a null in an in list adds IS NULL"),
    P({"state": op("in", [None])}, "t0.state IS NULL", {}, id="in a list of only null is IS NULL"),
    P({"state": op("notin", ["Sold", None])},
      "t0.state IS NOT NULL AND (t0.state NOT IN (__[POSTCOMPILE_state_1]))", {"state_1": ["Sold"]},
      id="notin with a null listed drops rows without a value"),
    P({"state": op("notin", [None])}, "t0.state IS NOT NULL", {}, id="notin a list of only null is IS NOT NULL"),
]  # fmt: skip

COMBINER_ROWS = [
    P({"or-state": "Sold", "or-location": "Malmö"}, "t0.state = %(state_1)s OR t0.location = %(location_1)s",
      {"state_1": "Sold", "location_1": "Malmö"}, id="or- keys are one OR group"),
    P({"state": "Sold", "or-location": "Malmö", "or-category": "Sofa"},
      "t0.state = %(state_1)s AND (t0.location = %(location_1)s OR t0.category = %(category_1)s)",
      {"state_1": "Sold", "location_1": "Malmö", "category_1": "Sofa"},
      id="plain keys AND the OR group of or- keys"),
    P({"$or": [{"state": "Sold"}, {"location": "Malmö"}]}, "t0.state = %(state_1)s OR t0.location = %(location_1)s",
      {"state_1": "Sold", "location_1": "Malmö"}, id="$or"),
    P({"$and": [{"state": "Sold"}, {"location": "Malmö"}]}, "t0.state = %(state_1)s AND t0.location = %(location_1)s",
      {"state_1": "Sold", "location_1": "Malmö"}, id="$and"),
    P({"$not": {"state": "Sold"}}, "(t0.state = %(state_1)s) IS NOT true", {"state_1": "Sold"},
      id="$not is IS NOT true: rows where the condition is unknown (NULL) match"),
    P({"state": op("or", [op("==", "Sold"), op("is_null")])}, "t0.state = %(state_1)s OR t0.state IS NULL",
      {"state_1": "Sold"}, id="or on one key"),
    P({"purchased_price": op("and", [op(">", 1), op("<", 9)])},
      "t0.purchased_price > %(purchased_price_1)s AND t0.purchased_price < %(purchased_price_2)s",
      {"purchased_price_1": 1, "purchased_price_2": 9}, id="and on one key"),
    P({"state": op("not", op("in", ["Sold"]))}, "(t0.state IN (__[POSTCOMPILE_state_1])) IS NOT true",
      {"state_1": ["Sold"]}, id="not on one key is IS NOT true"),
]  # fmt: skip

PATH_ROWS = [
    P({"properties.color": "red"}, "(t0.properties #> %(properties_1)s) = %(param_1)s::JSONB",
      {"properties_1": ("color",), "param_1": "red"}, id="a JSON path compares jsonb at #>"),
    P({"properties.size.width": op("<=", 3)}, "(t0.properties #> %(properties_1)s) <= %(param_1)s::JSONB",
      {"properties_1": ("size", "width"), "param_1": 3}, id="a nested JSON path"),
    P({"properties.color": op("like", "re%")}, "t0.properties #>> %(properties_1)s LIKE %(param_1)s",
      {"properties_1": ("color",), "param_1": "re%"}, id="a pattern on a JSON path matches its text at #>>"),
    P({"dealer.dealer_name": "Anna"}, f"{DEALER} AND t1.dealer_name = %(dealer_name_1)s)",
      {"dealer_name_1": "Anna"}, id="a path through a to-one is an EXISTS on the related row"),
    P({"dealer": op("is_null")}, f"NOT ({DEALER}))", {}, id="a to-one is_null is NOT EXISTS"),
    P({"notes.note_content": op("ilike", "%x%")}, f"{NOTES} AND t1.note_content ILIKE %(note_content_1)s)",
      {"note_content_1": "%x%"}, id="a path through a to-many is an EXISTS through the association table"),
    P({"notes": op("is_null")}, f"NOT ({NOTES}))", {}, id="a to-many is_null is NOT EXISTS: no related row"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("filters", "where", "params"), OPERATOR_ROWS + NULL_ROWS + COMBINER_ROWS + PATH_ROWS
)
def test_given_filters_when_compiled_then_this_where_clause_and_these_values(
    filters: dict[str, Any], where: str, params: dict[str, Any]
) -> None:
    sql, sent = where_of({"query_filters": filters, "per_page": 7})

    assert sql == where
    assert {name: sent[name] for name in params} == params
    assert len(sent) == len(params) + 1  # and the page's LIMIT, nothing else


def test_every_operator_and_combiner_has_a_row() -> None:
    def used(value: Any) -> set[str]:
        if isinstance(value, dict):
            found = {value["operation"]} if isinstance(value.get("operation"), str) else set()
            return (
                found | {k[1:] for k in value if k.startswith("$")} | set().union(*map(used, value.values()))
            )
        if isinstance(value, list):
            return set().union(*map(used, value))
        return set()

    rows = OPERATOR_ROWS + NULL_ROWS + COMBINER_ROWS + PATH_ROWS
    operations = set().union(*(used(row.values[0]) for row in rows))
    assert set(OPERATORS) | set(COMBINERS) <= operations
