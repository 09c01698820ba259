"""The access policy (docs/contract.md §7): every cell of the default policy, and User writes that need Cognito.

Through the real handlers, in-process, on committed seed data; the callers, the `world` fixture
(conftest.py) and the request helpers are described in harness.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dataapi.identity import cognito
from tests.handler.policy.harness import (
    ADMIN,
    ANNA,
    CALLERS,
    CELLS,
    ERIK,
    GRANTED,
    MODELS,
    OPS,
    ROUTE_OF,
    Who,
    World,
    call,
    check_granted,
    create,
    delete,
    no_role,
    refused_model,
    update,
)

pytestmark = pytest.mark.db


# ---- 1. every cell of the default policy -------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("role", CALLERS)
def test_default_policy_cell(world: World, role: str, model: str, op: str) -> None:
    """GIVEN a caller holding `role` WHEN it sends a minimal `op` request on `model` matching one row
    THEN a granted cell succeeds and does exactly that; a refused cell is 403 naming the model and
    the operation (or, without any role, saying no role is assigned) and writes nothing."""
    who = CALLERS[role]
    before = world.snapshot()

    reply = call(ROUTE_OF[op], CELLS[model].request(model, op, who), who)

    if op in GRANTED[role].get(model, frozenset()):
        check_granted(world, before, model, op, who, reply)
        return
    if role == "no role":
        no_role(reply)
    else:
        refused_model(reply, model, op)
    assert world.snapshot() == before


def test_policy_event_files_as_sent_by_a_buyer(world: World) -> None:
    """GIVEN the four policy_* request bodies as they are, sent by anna WHEN each is invoked in turn
    THEN read, create, update and delete all succeed for the Buyer."""
    assert call("get_items").body == [
        {"id": 1, "article_number": "2511-001", "dealer": {"id": 1, "dealer_name": "Gamla Stans Antik"}}
    ]
    created = call("create_items")
    assert created.status == 201, created.envelope
    assert created.body == [{"id": 13, "article_number": "2601-001", "created_by": "anna"}]
    updated = call("update_items")
    assert (updated.status, updated.body) == (201, [{"id": 1, "state": "In-Stock"}])
    deleted = call("delete_items")
    assert (deleted.status, deleted.message) == (201, "Note deleted!")
    assert world.scalar('SELECT count(*) FROM "Item_Note" WHERE id = 6') == 0


# ---- 1b. User writes that need Cognito: 503, nothing written -----------------------------------

NEEDS_COGNITO: dict[str, tuple[Who, str, dict[str, Any]]] = {
    "admin creates a user with a password": (
        ADMIN,
        "create_items",
        create(
            "User",
            {"username": "pia", "email": "pia@example.com", "phone": "+46 70 1", "password": "Secret-pass-123"},
            ["id"],
        ),
    ),
    "admin sets another user's password": (
        ADMIN,
        "update_items",
        update("User", {"id": ANNA.id}, {"password": "Secret-pass-123"}),
    ),
    "admin changes another user's email": (
        ADMIN,
        "update_items",
        update("User", {"id": ANNA.id}, {"email": "anna.lind@example.com"}),
    ),
    "admin deletes a user with a sign-in account": (ADMIN, "delete_items", delete("User", {"id": ERIK.id})),
    "buyer sets its own password": (ANNA, "update_items", update("User", {"id": ANNA.id}, {"password": "Secret-pass-123"})),
    "buyer changes its own email": (ANNA, "update_items", update("User", {"id": ANNA.id}, {"email": "anna.lind@example.com"})),
    "buyer changes its own email and phone": (
        ANNA,
        "update_items",
        update("User", {"id": ANNA.id}, {"phone": "+46 70 2", "email": "anna.lind@example.com"}),
    ),
}  # fmt: skip


@pytest.mark.parametrize(("who", "route", "request_body"), NEEDS_COGNITO.values(), ids=NEEDS_COGNITO.keys())
def test_user_writes_that_need_cognito_are_503_not_configured(
    world: World, who: Who, route: str, request_body: dict[str, Any]
) -> None:
    """GIVEN no user pool is configured WHEN a granted User write needs Cognito (a password, an email
    change, deleting a user with a sign-in account) THEN 503 "user directory not configured" and
    the database is as before (the flushed row work is rolled back)."""
    before = world.snapshot()

    reply = call(route, request_body, who)

    assert reply.status == 503, reply.envelope
    assert "not configured" in reply.message.lower(), reply.envelope
    assert world.snapshot() == before


def test_user_write_with_password_without_any_aws_environment_says_not_configured(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GIVEN only DATABASE_URL is set (no region, no AWS config) WHEN Admin creates a user with a
    password THEN 503 with the message that the user directory is not configured, nothing written."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    cognito.client.cache_clear()
    before = world.snapshot()

    reply = call("create_items", NEEDS_COGNITO["admin creates a user with a password"][2], ADMIN)

    assert reply.status == 503, reply.envelope
    assert world.snapshot() == before
    assert "not configured" in reply.message.lower(), reply.envelope
