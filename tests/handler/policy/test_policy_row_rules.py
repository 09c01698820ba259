"""The access policy (docs/contract.md §7): row rules (a Buyer's own User row).

Through the real handlers, in-process, on committed seed data; the callers, the `world` fixture
(conftest.py) and the request helpers are described in harness.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.handler.policy.harness import (
    ADMIN,
    ANNA,
    ERIK,
    NORA,
    OLLE,
    PEOPLE,
    Who,
    World,
    call,
    delete,
    forbidden,
    refused_field,
    refused_model,
    update,
)

pytestmark = pytest.mark.db


# ---- 3. row rules ---------------------------------------------------------------------------------

OWN_PROFILE: dict[str, dict[str, Any]] = {
    "phone": {"phone": "+46 70 555 55 55"},
    "username": {"username": "anna.l"},
    "profile_picture": {"profile_picture": "profiles_pictures/anna/new-avatar.jpg"},
    "email, only its case": {"email": "Anna@Beyo.se"},
    "several at once": {"username": "anna.l", "phone": "+46 70 555 55 55", "profile_picture": None},
}


@pytest.mark.parametrize("values", OWN_PROFILE.values(), ids=OWN_PROFILE.keys())
def test_buyer_updates_its_own_user_row(world: World, values: dict[str, Any]) -> None:
    """GIVEN a Buyer WHEN it updates username, phone, profile_picture (or the case of its email) of
    its own User row THEN 201 with the row, and only that row changed."""
    others = [world.user(who.id) for who in PEOPLE if who is not ANNA]
    before = world.user(ANNA.id)

    reply = call(
        "update_items",
        update("User", {"id": ANNA.id}, values, ["id", "username", "email", "phone", "profile_picture"]),
        ANNA,
    )

    assert reply.status == 201, reply.envelope
    expected = {**before, **values}
    assert world.user(ANNA.id) == expected
    assert reply.body == [
        {"id": ANNA.id, **{k: expected[k] for k in ("username", "email", "phone", "profile_picture")}}
    ]
    assert [world.user(who.id) for who in PEOPLE if who is not ANNA] == others


@pytest.mark.parametrize("target", [ADMIN, ERIK, NORA, OLLE], ids=lambda w: w.name)
@pytest.mark.parametrize(
    ("values", "update_type"),
    [
        ({"phone": "+46 70 666"}, "first_match"),
        ({"phone": "+46 70 666"}, "all_matches"),
        ({"username": "taken-over", "profile_picture": "profiles_pictures/x.jpg"}, "first_match"),
        ({"password": "Secret-pass-123"}, "first_match"),
        ({"email": "mine@example.com"}, "first_match"),
    ],
    ids=["phone first_match", "phone all_matches", "username and picture", "password", "email"],
)
def test_buyer_updating_another_users_row_is_403_and_changes_nothing(
    world: World, target: Who, values: dict[str, Any], update_type: str
) -> None:
    """GIVEN a Buyer WHEN it updates another user's row by id (a password or an email included:
    refused before any Cognito call, so 403 and not 503) THEN 403 saying only its own rows may
    change (not 404: the row exists), and nothing changed."""
    before = world.snapshot()

    reply = call("update_items", update("User", {"id": target.id}, values, update_type=update_type), ANNA)

    forbidden(reply, "rows=own", at="/query_filters")
    assert "own" in reply.message
    assert world.snapshot() == before


def test_buyer_updating_an_unknown_user_row_is_404(world: World) -> None:
    """GIVEN a Buyer WHEN its update filter matches no User at all THEN 404, nothing changed."""
    before = world.snapshot()

    reply = call("update_items", update("User", {"id": 999}, {"phone": "+46 70 666"}), ANNA)

    assert reply.status == 404, reply.envelope
    assert world.snapshot() == before


TAKEN_EMAILS = ["olle.berg@example.com", "ADMIN@example.com"]


@pytest.mark.parametrize("email", TAKEN_EMAILS)
def test_buyer_cannot_take_over_another_users_email(world: World, email: str) -> None:
    """GIVEN anna WHEN she sets her own email to another user's, in another case (the caller is found
    by email when its sub is unknown) THEN 409 naming 'email', found before any Cognito call, and
    nothing changed."""
    before = world.snapshot()

    reply = call("update_items", update("User", {"id": ANNA.id}, {"email": email}), ANNA)

    assert reply.status == 409, reply.envelope
    assert "field 'email'" in reply.message, reply.envelope
    assert world.snapshot() == before


WIDE_USER_UPDATES: dict[str, dict[str, Any]] = {
    "allow_all": update("User", {}, {"phone": "+46 70 777"}, ["id", "phone"], "all_matches", allow_all=True),
    "ids of three users": update(
        "User", {"id": {"operation": "in", "value": [1, 2, 3]}}, {"phone": "+46 70 777"}, ["id", "phone"], "all_matches"
    ),
    "every Buyer": update("User", {"roles.role": "Buyer"}, {"phone": "+46 70 777"}, ["id", "phone"], "all_matches"),
    "first_match over everyone": update(
        "User", {"id": {"operation": ">", "value": 0}}, {"phone": "+46 70 777"}, ["id", "phone"], "first_match"
    ),
}  # fmt: skip


@pytest.mark.parametrize("request_body", WIDE_USER_UPDATES.values(), ids=WIDE_USER_UPDATES.keys())
def test_buyer_update_matching_many_users_touches_only_its_own_row(
    world: World, request_body: dict[str, Any]
) -> None:
    """GIVEN a Buyer WHEN an update of User matches several users (allow_all, a list of ids, a role)
    THEN the row rule narrows it to the caller's own row: 201 with only that row, no other changed."""
    others = [world.user(who.id) for who in PEOPLE if who is not ANNA]

    reply = call("update_items", request_body, ANNA)

    assert reply.status == 201, reply.envelope
    assert reply.body == [{"id": ANNA.id, "phone": "+46 70 777"}]
    assert world.user(ANNA.id)["phone"] == "+46 70 777"
    assert [world.user(who.id) for who in PEOPLE if who is not ANNA] == others


@pytest.mark.parametrize("target", [ANNA, NORA], ids=["own row", "another row"])
def test_buyer_deleting_a_user_is_403(world: World, target: Who) -> None:
    """GIVEN a Buyer WHEN it deletes a User row, its own or another's THEN 403 naming User and delete."""
    before = world.snapshot()

    reply = call("delete_items", delete("User", {"id": target.id}), ANNA)

    refused_model(reply, "User", "delete")
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"metafields": {"vip": True}}, "metafields"),
        ({"phone": "+46 70 1", "metafields": None}, "metafields"),
    ],
    ids=["metafields", "phone and metafields"],
)
def test_buyer_writing_a_user_field_outside_its_grant_is_403(
    world: World, values: dict[str, Any], name: str
) -> None:
    """GIVEN a Buyer WHEN it writes a field of its own row outside its update grant
    THEN 403 naming the field at its pointer, nothing written."""
    before = world.snapshot()

    reply = call("update_items", update("User", {"id": ANNA.id}, values), ANNA)

    refused_field(reply, name, f"/object_values/{name}")
    assert world.snapshot() == before
