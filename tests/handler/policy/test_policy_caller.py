"""The access policy (docs/contract.md §7): the caller (claims, subject, signed-out tokens, no role).

Through the real handlers, in-process, on committed seed data; the callers, the `world` fixture
(conftest.py) and the request helpers are described in harness.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from tests.handler.policy.harness import (
    ADMIN,
    ANNA,
    CELLS,
    ERIK,
    NORA,
    OLLE,
    ROUTE_OF_OP,
    ROUTES,
    VERA,
    Who,
    World,
    call,
    claims_of,
    create,
    forbidden,
    invoke,
    make_event,
    no_role,
    read,
    refused_model,
    succeeds,
)

pytestmark = pytest.mark.db


# ---- 5. the caller --------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["olle.berg@example.com", "OLLE.BERG@EXAMPLE.COM", "Olle.Berg@Example.com"])
def test_unknown_sub_with_a_known_email_is_that_user_and_fills_cognito_sub(world: World, email: str) -> None:
    """GIVEN olle, a Buyer adopted from the Flask backend (no cognito_sub, a Flask-era password)
    WHEN a token with a new sub and his email in any case arrives (his first sign-in) THEN he is the
    caller (his username stamps created_by), cognito_sub is filled in, and the next token with
    that sub is him whatever its email claim."""
    with world.engine.begin() as conn:
        conn.execute(text("INSERT INTO legacy.user_password VALUES (:id, 'flask-era')"), {"id": OLLE.id})
    claims = claims_of(OLLE, sub="policy-sub-olle", email=email)

    reply = call(
        "create_items", create("Item", {"article_number": "2601-006"}, ["id", "created_by"]), claims=claims
    )

    assert reply.status == 201, reply.envelope
    assert reply.body[0]["created_by"] == "olle"
    assert world.user(OLLE.id)["cognito_sub"] == "policy-sub-olle"
    again = call("get_items", read("Item", ["created_by"], query_filters={"id": reply.body[0]["id"]}),
                 claims=claims_of(OLLE, sub="policy-sub-olle", email="olle@elsewhere.example"))  # fmt: skip
    assert again.status == 200, again.envelope
    assert again.body == [{"created_by": "olle"}]


def test_a_known_email_whose_user_has_another_sub_is_refused(world: World) -> None:
    """GIVEN anna has a cognito_sub WHEN a token with another sub carries her email
    THEN 403 (another Cognito user is not anna) and her cognito_sub is unchanged."""
    reply = call("get_items", read("Item"), claims=claims_of(ANNA, sub="policy-sub-impostor"))

    forbidden(reply)
    assert reply.status == 403
    assert world.user(ANNA.id)["cognito_sub"] == ANNA.sub


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "claims",
    [
        {
            "sub": "policy-sub-stranger",
            "email": "stranger@example.com",
            "cognito:username": "policy-sub-stranger",
        },
        {"sub": "policy-sub-stranger", "cognito:username": "policy-sub-stranger"},
    ],
    ids=["unknown sub and email", "unknown sub, no email"],
)
def test_unknown_user_is_403_on_every_data_route(world: World, route: str, claims: dict[str, str]) -> None:
    """GIVEN a valid token of a user with no User row WHEN any data route is called THEN 403, nothing written."""
    before = world.snapshot()

    reply = call(route, item_request(route), claims=claims)

    forbidden(reply)
    assert "not known" in reply.message, reply.envelope
    assert world.snapshot() == before


@pytest.mark.parametrize("route", [*ROUTES, "session_me"])
@pytest.mark.parametrize("how", ["no authorizer", "empty claims", "no sub"])
def test_missing_claims_are_401(world: World, route: str, how: str) -> None:
    """GIVEN an event without claims (or without `sub`) WHEN a data or session route is called THEN 401."""
    event = make_event(route, item_request(route))
    if how == "no authorizer":
        del event["requestContext"]["authorizer"]
    elif how == "empty claims":
        event["requestContext"]["authorizer"] = {"claims": {}}
    else:
        event["requestContext"]["authorizer"]["claims"].pop("sub")
    before = world.snapshot()

    reply = invoke(route, event)

    assert reply.status == 401, reply.envelope
    assert world.snapshot() == before


def item_request(route: str) -> dict[str, Any]:
    """A valid request on Item for a data route (requests are validated before the caller is loaded)."""
    return {} if route == "session_me" else CELLS["Item"].request("Item", ROUTE_OF_OP[route], ANNA)


def _signed_out(world: World, who: Who, at: datetime) -> None:
    with world.engine.begin() as conn:
        conn.execute(text('UPDATE "User" SET tokens_valid_after = :t WHERE id = :i'), {"t": at, "i": who.id})


@pytest.mark.parametrize("route", [*ROUTES, "session_me"])
def test_token_older_than_tokens_valid_after_is_403_session_ended(world: World, route: str) -> None:
    """GIVEN anna logged out at 14:00 WHEN a token authenticated at 13:05 is used on any route
    THEN 403 saying the session has ended, nothing written."""
    _signed_out(world, ANNA, datetime(2025, 12, 5, 14, 0, tzinfo=UTC))
    before = world.snapshot()

    reply = call(route, item_request(route), ANNA)

    forbidden(reply, "TokenSignedOut")
    assert "session has ended" in reply.message, reply.envelope
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("valid_after", "status"),
    [(datetime(2025, 12, 5, 14, 0, tzinfo=UTC), 403), (datetime(2025, 12, 5, 13, 0, tzinfo=UTC), 200)],
    ids=["signed out after iat", "signed out before iat"],
)
def test_token_without_auth_time_is_judged_by_iat(world: World, valid_after: datetime, status: int) -> None:
    """GIVEN a token without `auth_time` (API Gateway's `iat` is a date string: 13:45 UTC)
    WHEN anna signed out at 14:00 (or 13:00) THEN 403 session ended (or 200)."""
    _signed_out(world, ANNA, valid_after)

    reply = call("get_items", read("Item", query_filters={"id": 1}), claims=claims_of(ANNA, auth_time=None))

    assert reply.status == status, reply.envelope
    if status == 403:
        forbidden(reply, "TokenSignedOut")


def test_token_newer_than_tokens_valid_after_is_accepted(world: World) -> None:
    """GIVEN anna logged out at 12:00 WHEN a token authenticated at 13:05 is used THEN it works."""
    _signed_out(world, ANNA, datetime(2025, 12, 5, 12, 0, tzinfo=UTC))

    assert succeeds("get_items", read("Item", query_filters={"id": 1}), ANNA).body == [{"id": 1}]


def test_the_sub_decides_not_the_email_or_the_groups_claim(world: World) -> None:
    """GIVEN anna's sub with admin's email and `cognito:groups: Admin` WHEN she creates a Role and an
    Item THEN she is anna: the Role is 403 and the Item is stamped with her username."""
    claims = claims_of(ANNA, email=ADMIN.email, cognito_groups="Admin")
    before = world.snapshot()

    role = call("create_items", create("Role", {"role": "Boss", "key": "boss"}), claims=claims)
    refused_model(role, "Role", "create")
    assert world.snapshot() == before
    item = call("create_items", create("Item", {"article_number": "2601-007"}, ["created_by"]), claims=claims)
    assert (item.status, item.body) == (201, [{"created_by": "anna"}])


@pytest.mark.parametrize("route", ROUTES)
def test_user_without_roles_is_403_no_role_on_data_routes_but_may_use_the_session_route(
    world: World, route: str
) -> None:
    """GIVEN nora without roles WHEN she calls a data route THEN 403 saying no role is assigned;
    POST /api still answers her own row with no roles."""
    before = world.snapshot()

    no_role(call(route, item_request(route), NORA))
    assert world.snapshot() == before

    me = succeeds("session_me", {}, NORA)
    assert me.body == [{"id": NORA.id, "username": "nora", "email": NORA.email, "phone": "+46 70 100 00 04",
                        "roles": [], "profile_picture": None}]  # fmt: skip


ME_SHAPES: dict[str, tuple[Who, list[Any], int, str | None]] = {
    "Buyer: granted fields": (ANNA, ["id", "email", {"roles": ["role"]}], 200, None),
    "Buyer: metafields": (ANNA, ["id", "metafields"], 403, "metafields"),
    "Buyer: cognito_sub": (ANNA, ["cognito_sub"], 403, "cognito_sub"),
    "Buyer: roles.key": (ANNA, ["roles.key"], 403, "key"),
    "no role: the default fields": (NORA, ["id", "username", "email", "phone", "profile_picture", {"roles": ["role", "id"]}], 200, None),
    "no role: metafields": (NORA, ["metafields"], 403, "metafields"),
    "Viewer: tokens_valid_after": (VERA, ["tokens_valid_after"], 403, "tokens_valid_after"),
    "Admin: every field": (ADMIN, ["metafields", "cognito_sub", "roles.key"], 200, None),
}  # fmt: skip


@pytest.mark.parametrize(("who", "requested", "status", "name"), ME_SHAPES.values(), ids=ME_SHAPES.keys())
def test_who_am_i_shaped_by_requested_data_respects_the_grants(
    world: World, who: Who, requested: list[Any], status: int, name: str | None
) -> None:
    """GIVEN a caller of any role (none included) WHEN POST /api asks its own row shaped by
    requested_data THEN the default fields (and what its grants let it read of User) answer 200 with
    exactly its own row; any other field is 403 naming it."""
    reply = call("session_me", {"requested_data": requested}, who)

    assert reply.status == status, reply.envelope
    if status == 403:
        forbidden(reply, name)
    else:
        assert len(reply.body) == 1
        assert set(reply.body[0]) == {
            n.split(".")[0] if isinstance(n, str) else next(iter(n)) for n in requested
        }
        if "id" in reply.body[0]:
            assert reply.body[0]["id"] == who.id


# ---- the remembered caller (dataapi.identity.remembered) ------------------------------------------
# A container remembers the callers it loaded; every read checks the identity generation in the
# query that begins its transaction. Each change below must take effect at the very next read.


def _remembered(who: Who) -> None:
    """GIVEN `who` read once: the container remembers them."""
    assert succeeds("get_items", read("Item", query_filters={"id": 1}), who).body == [{"id": 1}]


def test_a_sign_out_after_the_caller_was_remembered_ends_the_next_read(world: World) -> None:
    _remembered(ANNA)
    _signed_out(world, ANNA, datetime(2025, 12, 5, 14, 0, tzinfo=UTC))

    forbidden(call("get_items", read("Item", query_filters={"id": 1}), ANNA), "TokenSignedOut")


def test_a_role_taken_away_after_the_caller_was_remembered_refuses_the_next_read(world: World) -> None:
    _remembered(ANNA)
    with world.engine.begin() as conn:
        conn.execute(text("DELETE FROM user_roles WHERE user_id = :i"), {"i": ANNA.id})

    no_role(call("get_items", read("Item", query_filters={"id": 1}), ANNA))


def test_a_role_given_after_a_refusal_allows_the_next_read(world: World) -> None:
    no_role(call("get_items", read("Item", query_filters={"id": 1}), NORA))
    with world.engine.begin() as conn:
        conn.execute(text("""INSERT INTO user_roles (user_id, role_id) SELECT :i, id FROM "Role" WHERE role = 'Buyer'"""),
                     {"i": NORA.id})  # fmt: skip

    assert succeeds("get_items", read("Item", query_filters={"id": 1}), NORA).body == [{"id": 1}]


def test_a_refusal_of_a_remembered_caller_is_confirmed_on_a_fresh_load(world: World) -> None:
    """GIVEN anna remembered as a Buyer, refused Role.key WHEN her role row becomes Admin
    THEN the same read succeeds: a refusal is never decided on a remembered caller alone."""
    _remembered(ANNA)
    forbidden(call("get_items", read("Role", ["key"]), ANNA))
    with world.engine.begin() as conn:
        conn.execute(text("""UPDATE "Role" SET role = 'Admin-2' WHERE role = 'Admin'"""))
        conn.execute(text("""UPDATE "Role" SET role = 'Admin' WHERE role = 'Buyer'"""))

    assert succeeds("get_items", read("Role", ["key"]), ANNA).status == 200


def test_a_deleted_user_is_unknown_at_the_next_read(world: World) -> None:
    _remembered(ERIK)
    with world.engine.begin() as conn:
        conn.execute(text("DELETE FROM user_roles WHERE user_id = :i"), {"i": ERIK.id})
        conn.execute(text('DELETE FROM "User" WHERE id = :i'), {"i": ERIK.id})

    forbidden(call("get_items", read("Item"), ERIK), "UnknownUser")


def test_the_generation_changes_with_users_and_rolls_back_with_them(world: World) -> None:
    """The generation is transactional: an aborted change to users costs no reload."""
    generation = "SELECT token FROM dataapi.identity_generation"
    with world.engine.connect() as conn:
        before = conn.scalar(text(generation))
        conn.execute(text("""UPDATE "User" SET phone = 'x' WHERE id = :i"""), {"i": ANNA.id})
        assert conn.scalar(text(generation)) != before
        conn.rollback()
        assert conn.scalar(text(generation)) == before
