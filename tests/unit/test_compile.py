"""Compile-only tests of the read engine: the SQL it builds, with no database."""

from datetime import UTC, datetime

import pytest

from dataapi.errors import (
    BadOperator,
    LimitExceeded,
    MalformedRequest,
    UnknownField,
    UnknownModel,
    WrongValueType,
)
from dataapi.registry import default_registry
from dataapi.settings import Settings
from tests.support.engine import prepare
from tests.support.sql import NOW, compiled, where_of


def test_given_plain_and_or_keys_when_compiled_then_and_of_plain_with_one_or_group():
    where, params = where_of(
        {
            "query_filters": {
                "state": "In-Transit",
                "purchased_price": {"operation": ">=", "value": 500},
                "or-article_number": {"operation": "ilike", "value": "%2512%"},
                "or-reference_number": {"operation": "ilike", "value": "%2512%"},
            }
        }
    )
    assert where == (
        "t0.state = %(state_1)s AND t0.purchased_price >= %(purchased_price_1)s AND "
        "(t0.article_number ILIKE %(article_number_1)s OR t0.reference_number ILIKE %(reference_number_1)s)"
    )
    assert params["purchased_price_1"] == 500


def test_only_or_keys_compile_to_just_their_or():
    where, _ = where_of({"query_filters": {"or-state": "Sold", "or-location": "Malmö"}})
    assert where == "t0.state = %(state_1)s OR t0.location = %(location_1)s"


def test_to_many_path_is_an_exists_through_the_association_table_not_a_join():
    sql, _ = compiled(
        {"model_name": "Item", "requested_data": ["id"], "query_filters": {"notes.subject.id": 3}}
    )
    assert ' FROM "Item" AS t0 WHERE EXISTS (SELECT 1 FROM "Item_Note" AS t1 JOIN "Items_Notes" AS t2' in sql
    assert "t2.item_id = t0.id" in sql and 'EXISTS (SELECT 1 FROM "Item_Notes_Subject" AS t3' in sql
    assert " JOIN " not in sql.split(" WHERE ")[0]


def test_conditions_sharing_a_relationship_hold_on_the_same_related_row():
    where, _ = where_of(
        {
            "query_filters": {
                "item_history.column_name": "state",
                "item_history.type": {"operation": "!=", "value": "x"},
            }
        }
    )
    assert where.count("EXISTS") == 1
    assert "t1.column_name = %(column_name_1)s AND t1.type IS DISTINCT FROM %(type_1)s" in where


def test_or_conditions_on_a_relationship_are_separate_exists():
    where, _ = where_of({"query_filters": {"or-notes.note_content": "a", "or-notes.id": 2}})
    assert where.count("EXISTS") == 2 and " OR " in where


def test_null_through_a_to_one_also_matches_a_missing_related_row():
    where, _ = where_of({"query_filters": {"dealer.id": None}})
    assert (
        where
        == 'NOT (EXISTS (SELECT 1 FROM "Dealer" AS t1 WHERE t1.id = t0.dealer_id AND t1.id IS NOT NULL))'
    )


def test_bare_relationship_is_null_and_not_null_test_for_related_rows():
    where, _ = where_of({"query_filters": {"notes": {"operation": "is_null"}}})
    assert where.startswith('NOT (EXISTS (SELECT 1 FROM "Item_Note" AS t1 JOIN')
    where, _ = where_of({"query_filters": {"dealer": {"operation": "not_null"}}})
    assert where == 'EXISTS (SELECT 1 FROM "Dealer" AS t1 WHERE t1.id = t0.dealer_id)'


def test_json_path_is_compared_as_jsonb():
    where, params = where_of({"query_filters": {"properties.set_of": {"operation": ">", "value": 6}}})
    assert where == "(t0.properties #> %(properties_1)s) > %(param_1)s::JSONB"
    assert tuple(params["properties_1"]) == ("set_of",) and params["param_1"] == 6


def test_json_operators():
    where, params = where_of(
        {"query_filters": {"properties": {"operation": "contains", "value": {"set_of": 6}}}}
    )
    assert where == "t0.properties @> %(param_1)s::JSONB" and params["param_1"] == {"set_of": 6}
    where, params = where_of({"query_filters": {"properties": {"operation": "has_any", "value": ["a", "b"]}}})
    assert where == "t0.properties ?| CAST(ARRAY[%(param_1)s, %(param_2)s] AS TEXT[])"
    where, _ = where_of({"query_filters": {"properties": {"operation": "has_all", "value": "a"}}})
    assert "?&" in where
    where, _ = where_of({"query_filters": {"properties": {"operation": "has_key", "value": "a"}}})
    assert where == "t0.properties ? %(param_1)s"
    where, _ = where_of({"query_filters": {"images": {"operation": "contained_by", "value": ["a", "b"]}}})
    assert where == "t0.images <@ %(param_1)s::JSONB"


def test_in_takes_one_value_or_a_list_and_notin_keeps_nulls():
    where, params = where_of({"query_filters": {"article_number": {"operation": "in", "value": "2512-001"}}})
    assert where == "t0.article_number IN (__[POSTCOMPILE_article_number_1])"
    assert params["article_number_1"] == ["2512-001"]
    where, _ = where_of({"query_filters": {"state": {"operation": "notin", "value": ["Sold"]}}})
    assert where == "(t0.state NOT IN (__[POSTCOMPILE_state_1])) OR t0.state IS NULL"
    where, _ = where_of({"query_filters": {"state": ["Sold", "In-Stock"]}})
    assert where == "t0.state IN (__[POSTCOMPILE_state_1])"
    where, _ = where_of({"query_filters": {"state": ["Sold", None]}})
    assert where == "t0.state IN (__[POSTCOMPILE_state_1]) OR t0.state IS NULL"
    where, _ = where_of({"query_filters": {"state": {"operation": "notin", "value": ["Sold", None]}}})
    assert where == "t0.state IS NOT NULL AND (t0.state NOT IN (__[POSTCOMPILE_state_1]))"


def test_range_or_and_not_on_one_key():
    where, _ = where_of(
        {"query_filters": {"purchased_price": {"operation": "range", "value": {"start": 1, "end": 9}}}}
    )
    assert (
        where == "t0.purchased_price >= %(purchased_price_1)s AND t0.purchased_price <= %(purchased_price_2)s"
    )
    where, _ = where_of(
        {"query_filters": {"valuation": {"operation": "or", "value": [5, {"operation": ">", "value": 100}]}}}
    )
    assert where == "t0.valuation = %(valuation_1)s OR t0.valuation > %(valuation_2)s"
    where, _ = where_of(
        {"query_filters": {"state": {"operation": "not", "value": {"operation": "like", "value": "S%"}}}}
    )
    assert where == "(t0.state LIKE %(state_1)s) IS NOT true"  # rows with a NULL state are kept


def test_nested_boolean_groups():
    where, _ = where_of(
        {
            "query_filters": {
                "$or": [{"state": "Sold", "valuation": 5}, {"$not": {"category": "Chair"}}],
                "location": "Lund",
            }
        }
    )
    assert where == (
        "(t0.state = %(state_1)s AND t0.valuation = %(valuation_1)s OR (t0.category = %(category_1)s) IS NOT true) "
        "AND t0.location = %(location_1)s"
    )


def test_relative_times_resolve_once_in_utc():
    _, params = where_of({"query_filters": {"created_at": {"operation": "<", "value": "$now-7d"}}})
    assert params["created_at_1"] == datetime(2025, 11, 28, 13, 45, 10, tzinfo=UTC)
    _, params = where_of(
        {"query_filters": {"created_at": {"operation": ">", "value": "2025-12-05T15:00:00+02:00"}}}
    )
    assert params["created_at_1"] == datetime(2025, 12, 5, 13, 0, tzinfo=UTC)


def test_projection_builds_json_in_postgresql_with_one_subquery_per_relationship():
    sql, _ = compiled(
        {
            "model_name": "Item",
            "requested_data": ["id", {"dealer": ["dealer_name"]}, "notes.subject.subject", "created_at"],
        }
    )
    assert sql.startswith("SELECT CAST(json_build_object('id', t0.id, 'dealer', (SELECT json_build_object(")
    assert (
        "coalesce(json_agg(json_build_object('subject', (SELECT json_build_object('subject', t4.subject)"
        in sql
    )
    assert "ORDER BY t1.id), '[]'::json)" in sql or "ORDER BY t2.id), '[]'::json)" in sql
    assert """to_char(timezone('UTC', t0.created_at), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')""" in sql
    assert sql.endswith("ORDER BY t0.id DESC LIMIT %(param_1)s")


def test_default_order_and_integer_cursor():
    sql, params = compiled({"model_name": "Item", "requested_data": ["id"], "cursor": 1873, "per_page": 60})
    assert sql.endswith("WHERE t0.id < %(id_1)s ORDER BY t0.id DESC LIMIT %(param_1)s")
    assert params["id_1"] == 1873 and params["param_1"] == 60


def test_order_by_a_to_one_path_with_id_tie_break():
    sql, _ = compiled(
        {"model_name": "Item", "requested_data": ["id"], "order_by": ["-dealer.dealer_name", "state"]}
    )
    order = sql.rsplit(" ORDER BY ", 1)[1]
    assert order.startswith('(SELECT t1.dealer_name FROM "Dealer" AS t1 WHERE t1.id = t0.dealer_id) DESC')
    assert order.endswith("t0.state ASC, t0.id DESC LIMIT %(param_1)s")


@pytest.mark.parametrize(
    ("request_part", "error", "pointer"),
    [
        ({"model_name": "Nope"}, UnknownModel, "/model_name"),
        ({"requested_data": ["id", "nope"]}, UnknownField, "/requested_data/1"),
        ({"requested_data": ["dealer"]}, UnknownField, "/requested_data/0"),
        ({"requested_data": [{"dealer": ["nope"]}]}, UnknownField, "/requested_data/0/dealer/0"),
        ({"query_filters": {"nope": 1}}, UnknownField, "/query_filters/nope"),
        ({"query_filters": {"dealer.nope": 1}}, UnknownField, "/query_filters/dealer.nope"),
        ({"query_filters": {"state.x": 1}}, UnknownField, "/query_filters/state.x"),
        (
            {"query_filters": {"state": {"operation": "~", "value": 1}}},
            BadOperator,
            "/query_filters/state/operation",
        ),
        (
            {"query_filters": {"state": {"operation": "has_key", "value": "a"}}},
            BadOperator,
            "/query_filters/state",
        ),
        ({"query_filters": {"dealer": 5}}, BadOperator, "/query_filters/dealer"),
        ({"query_filters": {"purchased_price": "abc"}}, WrongValueType, "/query_filters/purchased_price"),
        ({"query_filters": {"purchased_price": True}}, WrongValueType, "/query_filters/purchased_price"),
        (
            {"query_filters": {"created_at": {"operation": ">", "value": "yesterday"}}},
            WrongValueType,
            "/query_filters/created_at/value",
        ),
        (
            {"query_filters": {"id": {"operation": "in", "value": [1, "x"]}}},
            WrongValueType,
            "/query_filters/id/value/1",
        ),
        (
            {"query_filters": {"id": {"operation": "range", "value": 3}}},
            WrongValueType,
            "/query_filters/id/value",
        ),
        ({"query_filters": {"id": {"value": 3}}}, MalformedRequest, "/query_filters/id"),
        ({"query_filters": {"$xor": []}}, MalformedRequest, "/query_filters/$xor"),
        ({"query_filters": []}, MalformedRequest, "/query_filters"),
        ({"per_page": 1001}, LimitExceeded, "/per_page"),
        ({"per_page": 0}, LimitExceeded, "/per_page"),
        ({"order_by": ["state"], "cursor": 5}, MalformedRequest, "/cursor"),
        ({"order_by": ["notes.id"]}, UnknownField, "/order_by/0"),
        ({"cursor": "not-a-cursor"}, MalformedRequest, "/cursor"),
        ({"querry_filters": {}}, MalformedRequest, "/querry_filters"),
        ({"requested_data": "id"}, MalformedRequest, "/requested_data"),
    ],
)
def test_bad_requests_raise_typed_errors_pointing_at_the_offending_part(request_part, error, pointer):
    request = {"model_name": "Item", "requested_data": ["id"], **request_part}
    with pytest.raises(error) as caught:
        prepare(request, default_registry(), Settings(), NOW)
    assert caught.value.status == 400
    assert caught.value.at == pointer
    assert pointer in caught.value.server_message


def test_missing_model_name_names_the_field():
    with pytest.raises(MalformedRequest) as caught:
        prepare({"requested_data": ["id"]}, default_registry(), Settings(), NOW)
    assert "model_name" in caught.value.message and caught.value.at == "/model_name"
