"""The access policy (docs/contract.md §7): field-level grants.

Through the real handlers, in-process, on committed seed data; the callers, the `world` fixture
(conftest.py) and the request helpers are described in harness.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.handler.policy.harness import (
    ANNA,
    ERIK,
    Who,
    World,
    call,
    forbidden,
    read,
    refused_field,
    refused_reaching,
)

pytestmark = pytest.mark.db


# ---- 2. field-level grants -----------------------------------------------------------------------

FIELD_REFUSALS: dict[str, tuple[dict[str, Any], str, str]] = {
    # (request, the forbidden name, JSON pointer)
    "User.metafields read": (read("User", ["id", "metafields"]), "metafields", "/requested_data/1"),
    "User.cognito_sub read": (read("User", ["id", "username", "cognito_sub"]), "cognito_sub", "/requested_data/2"),
    "User.tokens_valid_after read": (read("User", ["tokens_valid_after"]), "tokens_valid_after", "/requested_data/0"),
    "Role.key read": (read("Role", ["id", "role", "key"]), "key", "/requested_data/2"),
    "Role.metafields read": (read("Role", ["metafields"]), "metafields", "/requested_data/0"),
    "User roles.key dotted read": (read("User", ["id", "roles.key"]), "key", "/requested_data/1"),
    "User {roles: [key]} read": (read("User", ["id", {"roles": ["id", "key"]}]), "key", "/requested_data/1/roles/1"),
    "Role {users: [...]} read": (read("Role", ["id", {"users": ["id"]}]), "users", "/requested_data/1/users"),
    "Role users.username read": (read("Role", ["role", "users.username"]), "users", "/requested_data/1"),
    "User filter metafields.x": (read("User", query_filters={"metafields.x": 1}), "metafields", "/query_filters/metafields.x"),
    "User filter cognito_sub": (read("User", query_filters={"cognito_sub": "seed-sub-admin"}), "cognito_sub", "/query_filters/cognito_sub"),
    "User filter roles.key": (read("User", query_filters={"roles.key": "admin"}), "key", "/query_filters/roles.key"),
    "User filter in an or- group": (
        read("User", query_filters={"or-username": "anna", "or-tokens_valid_after": {"operation": "is_null"}}),
        "tokens_valid_after",
        "/query_filters/or-tokens_valid_after",
    ),
    "User filter in a $or group": (
        read("User", query_filters={"$or": [{"username": "anna"}, {"roles.key": "admin"}]}),
        "key",
        "/query_filters/$or/1/roles.key",
    ),
    "User filter under $not": (
        read("User", query_filters={"$not": {"metafields": {"operation": "not_null"}}}),
        "metafields",
        "/query_filters/$not/metafields",
    ),
    "Role filter users.id": (read("Role", query_filters={"users.id": 2}), "users", "/query_filters/users.id"),
    "User filter roles.users.metafields": (
        read("User", query_filters={"roles.users.metafields.vip": True}), "users", "/query_filters/roles.users.metafields.vip",
    ),
    "User order_by tokens_valid_after": (read("User", order_by=["-tokens_valid_after"]), "tokens_valid_after", "/order_by/0"),
    "Role order_by key": (read("Role", order_by=["key"]), "key", "/order_by/0"),
}  # fmt: skip


@pytest.mark.parametrize("who", [ANNA, ERIK], ids=["Buyer", "Buyer+Viewer"])
@pytest.mark.parametrize(("request_body", "name", "at"), FIELD_REFUSALS.values(), ids=FIELD_REFUSALS.keys())
def test_buyer_reading_or_filtering_a_field_outside_its_grant_is_403(
    world: World, who: Who, request_body: dict[str, Any], name: str, at: str
) -> None:
    """GIVEN a Buyer WHEN it reads, filters or orders on a User or Role field outside
    (id, username, email, phone, profile_picture, roles) / (id, role) THEN 403 naming the field with a
    JSON pointer to the request part, never the rows with the field silently dropped."""
    reply = call("get_items", request_body, who)

    refused_field(reply, name, at)


MODEL_REFUSALS_IN_READS: dict[str, tuple[dict[str, Any], str, str]] = {
    # (request, the model no grant lets the Buyer read, pointer)
    "Dealer {dealer_notes: [...]}": (read("Dealer", ["id", {"dealer_notes": ["id"]}]), "Dealer_Notes", "/requested_data/1/dealer_notes"),
    "Dealer dealer_history.column_name": (read("Dealer", ["dealer_history.column_name"]), "Dealer_History", "/requested_data/0"),
    "Item dealer.dealer_notes.content": (read("Item", ["id", "dealer.dealer_notes.content"]), "Dealer_Notes", "/requested_data/1"),
    "Dealer filter dealer_notes.subject": (
        read("Dealer", query_filters={"dealer_notes.subject": "Opening"}),
        "Dealer_Notes",
        "/query_filters/dealer_notes.subject",
    ),
    "Item filter dealer.dealer_history.column_name": (
        read("Item", query_filters={"or-state": "Sold", "or-dealer.dealer_history.column_name": "phone"}),
        "Dealer_History",
        "/query_filters/or-dealer.dealer_history.column_name",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("request_body", "model", "at"), MODEL_REFUSALS_IN_READS.values(), ids=MODEL_REFUSALS_IN_READS.keys()
)
def test_buyer_reaching_a_model_without_a_read_grant_through_a_relationship_is_403(
    world: World, request_body: dict[str, Any], model: str, at: str
) -> None:
    """GIVEN a Buyer (no grant on Dealer_Notes or Dealer_History) WHEN a read reaches one of them
    through a relationship, in requested_data or in a filter THEN 403 naming that model and `get`."""
    reply = call("get_items", request_body, ANNA)

    refused_reaching(reply, model, "get")
    assert reply.server_message.endswith(f" at {at}"), reply.envelope


@pytest.mark.parametrize(
    ("model", "filters"),
    [
        ("Dealer", {"dealer_notes": {"operation": "not_null"}}),
        ("Item", {"dealer.dealer_history": {"operation": "is_null"}}),
    ],
    ids=["Dealer.dealer_notes not_null", "Item dealer.dealer_history is_null"],
)
def test_buyer_testing_existence_of_rows_of_a_model_without_a_read_grant_is_403(
    world: World, model: str, filters: dict[str, Any]
) -> None:
    """GIVEN a Buyer WHEN it filters on a bare relationship to a model it may not read
    (is_null / not_null) THEN 403 naming that model, as any other filter path into it is."""
    reply = call("get_items", read(model, query_filters=filters), ANNA)

    forbidden(reply)
    assert "Dealer_" in reply.message + reply.server_message, reply.envelope


ALLOWED_READS: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "Item filter notes.items.id": (read("Item", query_filters={"notes.items.id": 1}), [{"id": 5}, {"id": 2}, {"id": 1}]),
    "User filter roles.role": (read("User", query_filters={"roles.role": "Admin"}), [{"id": 1}]),
    "User filter roles.id in an or- group": (
        read("User", query_filters={"or-roles.id": 1, "or-username": "nora"}),
        [{"id": 4}, {"id": 1}],
    ),
    "User every granted field": (
        read("User", ["id", "username", "email", "phone", "profile_picture", {"roles": ["id", "role"]}],
             query_filters={"id": 3}),
        [{"id": 3, "username": "erik", "email": "erik@example.com", "phone": "+46 70 100 00 03",
          "profile_picture": None, "roles": [{"id": 2, "role": "Buyer"}, {"id": 3, "role": "Viewer"}]}],
    ),
    "User order_by -username": (read("User", ["username"], order_by=["-username"], per_page=2),
                                [{"username": "vera"}, {"username": "olle"}]),
    "Item order_by dealer.dealer_name": (
        read("Item", ["id"], order_by=["dealer.dealer_name"], query_filters={"dealer.id": {"operation": "in", "value": [2, 3]}}),
        [{"id": 5}, {"id": 8}, {"id": 3}, {"id": 4}],
    ),
    "Dealer with items and notes": (
        read("Dealer", ["id", "dealer_name", {"items": ["id", {"notes": [{"subject": ["subject"]}]}]}], query_filters={"id": 4}),
        [{"id": 4, "dealer_name": "Lars Nilsson", "items": [
            {"id": 7, "notes": [{"subject": {"subject": "Pricing"}}]}, {"id": 10, "notes": []}]}],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("request_body", "expected"), ALLOWED_READS.values(), ids=ALLOWED_READS.keys())
def test_buyer_reads_within_its_grants(
    world: World, request_body: dict[str, Any], expected: list[Any]
) -> None:
    """GIVEN a Buyer WHEN it reads, filters and orders on granted fields, dotted paths through granted
    relationships included THEN 200 with exactly the matching rows."""
    reply = call("get_items", request_body, ANNA)

    assert reply.status == 200, reply.envelope
    assert reply.body == expected
