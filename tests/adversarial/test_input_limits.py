"""Input that used to reach the driver or burn the statement timeout is refused with 400 first.

Each test is a reproducer of the hardening run: the hostile request answers a 400 in the envelope
naming the request part, and the next request (a plain read of every item) is still correct.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.adversarial.support import (
    ADMIN,
    ALL_ITEMS,
    ANNA,
    World,
    call,
    claims_of,
    event_for,
    invoke,
    read_ids,
    refused,
)

SURROGATE = "\ud800"


def items(requested: list[Any] | None = None, **changes: Any) -> dict[str, Any]:
    return {"model_name": "Item", "requested_data": requested or ["id"], **changes}


def nested(depth: int) -> str:
    return (
        '{"model_name": "Item", "requested_data": ["id"], "query_filters": {"properties": '
        + ("[" * depth + "]" * depth)
        + "}}"
    )


# ---- text that is not valid UTF-8 -----------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "body", "at"),
    [
        ("get_items", items(query_filters={"article_number": SURROGATE}), "/query_filters/article_number"),
        ("get_items", items(query_filters={f"properties.{SURROGATE}": 1}), "/query_filters/properties."),
        (
            "get_items",
            items(query_filters={"properties": {"operation": "has_key", "value": SURROGATE}}),
            "/query_filters/properties/value",
        ),
        ("get_items", items([f"id{SURROGATE}"]), "/requested_data/0"),
        (
            "create_items",
            {"model_name": "Item", "object_values": {"article_number": "a" + SURROGATE}},
            "/object_values/article_number",
        ),
        (
            "update_items",
            {
                "model_name": "Item",
                "query_filters": {"id": 1},
                "update_type": "first_match",
                "object_values": {"properties": {SURROGATE: 1}},
            },
            "/object_values/properties/",
        ),
        (
            "delete_items",
            {
                "model_name": "Item",
                "object_values": {"query_filters": {"state": [SURROGATE]}, "deletion_type": "delete_all"},
            },
            "/object_values/query_filters/state/0",
        ),
        ("me", {"requested_data": [SURROGATE]}, "/requested_data/0"),
    ],
)
def test_a_lone_surrogate_anywhere_is_a_400_naming_it_and_the_next_request_is_correct(
    world: World, route: str, body: dict[str, Any], at: str
) -> None:
    before = world.snapshot()
    reply = refused(route, body)
    assert "InvalidText" in reply.server_message
    assert f"at {at}" in reply.server_message.encode("utf-8", "backslashreplace").decode()
    assert world.snapshot() == before
    assert read_ids() == ALL_ITEMS
    assert read_ids(filters={"article_number": "2511-001"}) == [1]


def test_a_lone_surrogate_in_a_scheduled_run_is_refused_before_sql(world: World) -> None:
    from functions.update_items.app import lambda_handler
    from tests.support.lambda_context import FakeLambdaContext

    run = {"model_name": "Item", "query_filters": {"state": SURROGATE}, "update_type": "all_matches",
           "object_values": {"state": "Delayed"}}  # fmt: skip
    with pytest.raises(Exception, match="not valid Unicode"):
        lambda_handler(run, FakeLambdaContext())
    good = {**run, "query_filters": {"id": 1}}
    assert lambda_handler(good, FakeLambdaContext())["rows"] == 1


def test_an_in_list_over_the_parameter_limit_is_a_400(world: World) -> None:
    reply = refused("get_items", items(query_filters={"id": list(range(70_000))}))
    assert "limit=list_values" in reply.server_message
    assert "at /query_filters/id" in reply.server_message
    many = {"or-id": list(range(4000)), "or-purchased_price": list(range(4000))}
    conditions = {f"or-{name}": list(range(4000)) for name in ("valuation", "sold_price", "dealer_id")}
    reply = refused(
        "get_items", items(query_filters={**many, **conditions, "$and": [{"id": list(range(4000))}]})
    )
    assert "limit=filter_values" in reply.server_message
    assert read_ids() == ALL_ITEMS


# ---- nesting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["get_items", "create_items", "update_items", "delete_items", "me"])
@pytest.mark.parametrize("depth", [100, 1000, 100_000])
def test_a_deeply_nested_body_is_a_400_on_every_route(world: World, route: str, depth: int) -> None:
    reply = refused(route, nested(depth), raw=True)
    assert "limit=body_depth" in reply.server_message
    assert read_ids() == ALL_ITEMS


@pytest.mark.parametrize("group", ["$not", "$or", "$and"])
def test_filter_groups_nested_200_deep_are_a_400(world: World, group: str) -> None:
    filters: dict[str, Any] = {"id": 1}
    for _ in range(200):
        filters = {group: filters if group == "$not" else [filters]}
    body = json.dumps(items(query_filters=filters))
    reply = refused("get_items", body, raw=True)
    assert "limit=" in reply.server_message
    assert read_ids() == ALL_ITEMS


def test_not_nested_200_deep_on_one_key_is_a_400(world: World) -> None:
    condition: Any = 1
    for _ in range(40):
        condition = {"operation": "not", "value": condition}
    reply = refused("get_items", items(query_filters={"id": condition}))
    assert "limit=filter_depth" in reply.server_message


def test_sixty_thousand_or_conditions_are_a_400(world: World) -> None:
    reply = refused("get_items", items(query_filters={"$or": [{"id": i} for i in range(60_000)]}))
    assert "limit=conditions" in reply.server_message
    assert read_ids() == ALL_ITEMS


@pytest.mark.parametrize("where", ["query_filters", "requested_data", "order_by"])
def test_a_dotted_path_of_600_hops_is_a_400(world: World, where: str) -> None:
    path = ".".join(["dealer", "items"] * 300) + ".id"
    body = {
        "query_filters": items(query_filters={path: 1}),
        "requested_data": items([path]),
        "order_by": items(order_by=[path]),
    }[where]
    reply = refused("get_items", body)
    assert "limit=path_parts" in reply.server_message
    assert read_ids() == ALL_ITEMS


# ---- reads: depth and fan-out -----------------------------------------------------------------


def _deep(levels: int, from_item: bool = True) -> list[Any]:
    """Item -> notes -> items -> notes ..., `levels` relationships deep."""
    if levels == 0:
        return ["id"]
    return ["id", {("notes" if from_item else "items"): _deep(levels - 1, not from_item)}]


def test_requested_data_deeper_than_max_depth_is_a_400(world: World) -> None:
    for levels in (9, 45):
        reply = refused("get_items", {"model_name": "Item", "requested_data": _deep(levels)})
        assert "limit=" in reply.server_message
    assert read_ids() == ALL_ITEMS


def test_nested_to_many_fan_out_is_capped_before_the_query(world: World) -> None:
    """Item -> notes -> items -> notes multiplies rows per page: four nested to-many levels are
    refused, three are answered."""
    four = ["id", {"notes": ["id", {"items": ["id", {"notes": ["id", {"items": ["id"]}]}]}]}]
    reply = refused("get_items", {"model_name": "Item", "requested_data": four})
    assert "limit=to_many" in reply.server_message
    three = ["id", {"notes": ["id", {"items": ["id", {"notes": ["id"]}]}]}]
    assert call("get_items", {"model_name": "Item", "requested_data": three}).status == 200


# ---- values -----------------------------------------------------------------------------------


def test_a_comparison_with_null_is_a_400(world: World) -> None:
    reply = refused("get_items", items(query_filters={"purchased_price": {"operation": ">", "value": None}}))
    assert "at /query_filters/purchased_price/value" in reply.server_message
    refused(
        "get_items",
        items(query_filters={"purchased_price": {"operation": "range", "value": {"start": None}}}),
    )
    refused("get_items", items(query_filters={"article_number": {"operation": "like", "value": None}}))
    assert read_ids(filters={"purchased_price": {"operation": ">", "value": 2000}}) == [8, 6]


@pytest.mark.parametrize(
    "body",
    [
        '{"model_name": "Item", "requested_data": ["id"], "query_filters": {"id": ' + "9" * 4400 + "}}",
        '{"model_name": "Item", "requested_data": ["id"], "cursor": ' + "9" * 4400 + "}",
        json.dumps(items(cursor="9" * 4400)),
        json.dumps(items(cursor="9" * 30)),
        json.dumps(items(cursor=10**30)),
        json.dumps(items(cursor="²")),
        json.dumps(items(cursor="١٢")),
        json.dumps(items(cursor="x" * 10_000, order_by=["id"])),
    ],
)
def test_huge_or_non_ascii_numbers_and_cursors_are_a_400(world: World, body: str) -> None:
    refused("get_items", body, raw=True)
    assert read_ids() == ALL_ITEMS


def test_a_forged_cursor_cannot_widen_the_work(world: World) -> None:
    token = json.dumps({"o": ["-created_at", "-id"], "v": [{"x": [1] * 1000}, 1]})
    forged = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    refused("get_items", items(order_by=["-created_at"], cursor=forged))
    order = ["id"] * 300
    reply = refused("get_items", items(order_by=order, cursor="eyJvIjpbXSwidiI6W119"))
    assert "limit=order_by" in reply.server_message
    page = call("get_items", items(order_by=["-created_at"], per_page=5))
    assert page.status == 200 and page.envelope["next_cursor"]
    following = call(
        "get_items", items(order_by=["-created_at"], per_page=5, cursor=page.envelope["next_cursor"])
    )
    assert [r["id"] for r in following.body] == [7, 6, 5, 4, 3]


@pytest.mark.parametrize("value", ["$now-99999999d", "$now+999999999d", "$now-9999999999999999d",
                                   "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])  # fmt: skip
def test_out_of_range_timestamps_are_a_400_in_filters_and_writes(world: World, value: str) -> None:
    before = world.snapshot()
    reply = refused("get_items", items(query_filters={"created_at": {"operation": "<", "value": value}}))
    assert "at /query_filters/created_at/value" in reply.server_message
    history = {
        "model_name": "Item_History",
        "object_values": {"column_name": "state", "recorded_time": value},
    }
    reply = refused("create_items", history)
    assert "at /object_values/recorded_time" in reply.server_message
    assert world.snapshot() == before
    assert read_ids(filters={"created_at": {"operation": ">", "value": "$now-36500d"}}) == ALL_ITEMS


@pytest.mark.parametrize("action", [[], {}, None, 1, ["link"]])
def test_a_relationship_action_that_is_not_a_name_is_a_400(world: World, action: Any) -> None:
    body = {
        "model_name": "Item",
        "object_values": {"article_number": "x", "dealer": {"action": action, "values": {}}},
    }
    reply = refused("create_items", body)
    assert "at /object_values/dealer" in reply.server_message
    assert read_ids() == ALL_ITEMS


def test_a_buyer_gets_the_same_refusals(world: World) -> None:
    refused("get_items", items(query_filters={"state": SURROGATE}), who=ANNA)
    refused("get_items", nested(2000), who=ANNA, raw=True)


NOT_STANDARD_JSON = {
    "NaN": '{"model_name": "Item", "object_values": {"location": NaN}}',
    "Infinity": '{"model_name": "Item", "object_values": {"purchased_price": Infinity}}',
    "-Infinity": '{"model_name": "Item", "object_values": {"properties": {"w": -Infinity}}}',
    "a duplicate key": '{"model_name": "Item", "object_values": {"location": "a", "location": "b"}}',
    "a duplicate nested key": '{"model_name": "Item", "object_values": {"properties": {"k": 1, "k": 2}}}',
}


@pytest.mark.parametrize("case", list(NOT_STANDARD_JSON))
def test_json_that_is_not_standard_is_malformed(world: World, case: str) -> None:
    """GIVEN a body with NaN or an infinity literal, or an object naming a key twice (what sits in
    front of the API may read another request than the API) WHEN created THEN 400 InvalidJSON,
    nothing written."""
    before = world.scalar('SELECT count(*) FROM "Item"')

    reply = refused("create_items", NOT_STANDARD_JSON[case], raw=True)

    assert reply.server_message == "MalformedRequest InvalidJSON at /"
    assert world.scalar('SELECT count(*) FROM "Item"') == before


def test_a_base64_body_that_is_not_base64_is_malformed(world: World) -> None:
    """GIVEN a body flagged base64-encoded that does not decode WHEN created THEN 400 InvalidJSON."""
    event = event_for("create_items", "", claims_of(ADMIN), raw=True)
    event["body"], event["isBase64Encoded"] = "not base64 at all!", True

    reply = invoke("create_items", event)

    assert reply.status == 400, reply.envelope
    assert reply.server_message == "MalformedRequest InvalidJSON at /"
