"""Identity hardening: roles of one's own account, reserved principal names, verified e-mail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.adversarial.support import ADMIN, ANNA, World, call, claims_of, event_for, invoke


def _roles_of(world: World, user_id: int) -> list[str]:
    return [
        r[0]
        for r in world.rows(
            'SELECT r.role FROM user_roles ur JOIN "Role" r ON r.id = ur.role_id WHERE ur.user_id = :u ORDER BY 1',
            u=user_id,
        )
    ]


def _replace_users(role_id: int, new_users: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model_name": "Role",
        "query_filters": {"id": role_id},
        "update_type": "first_match",
        "object_values": {"users": {"action": "create", "values": new_users, "append": False}},
    }


def test_an_admin_cannot_empty_their_own_roles_through_role_users(world: World) -> None:
    """Role.users with create and append:false replaces the role's users, the caller among them."""
    before = world.snapshot()
    new_user = {"username": "newbie", "email": "newbie@example.com", "phone": "+46 70 1"}
    reply = call("update_items", _replace_users(1, [new_user]))
    assert reply.status == 403, reply.envelope
    assert "self-grant" in reply.server_message
    assert world.snapshot() == before
    assert _roles_of(world, ADMIN.id) == ["Admin"]


def test_replacing_the_users_of_a_role_the_caller_does_not_hold_still_works(world: World) -> None:
    new_user = {"username": "newbie", "email": "newbie@example.com", "phone": "+46 70 1"}
    reply = call("update_items", _replace_users(3, [new_user]))  # Viewer: erik only
    assert reply.status == 201, reply.envelope
    assert world.rows(
        'SELECT u.username FROM user_roles ur JOIN "User" u ON u.id = ur.user_id WHERE role_id = 3'
    ) == [("newbie",)]


def test_own_roles_stay_fixed_on_the_other_paths(world: World) -> None:
    unlink = {
        "model_name": "Role",
        "query_filters": {"id": 1},
        "update_type": "first_match",
        "object_values": {"users": {"action": "unlink", "values": {"unlink_type": "unlink_all"}}},
    }
    assert call("update_items", unlink).status == 403
    own = {
        "model_name": "User",
        "query_filters": {"id": ADMIN.id},
        "update_type": "first_match",
        "object_values": {
            "roles": {"action": "create", "values": [{"role": "Boss", "key": "boss"}], "append": False}
        },
    }
    assert call("update_items", own).status == 403
    assert _roles_of(world, ADMIN.id) == ["Admin"]


def test_a_user_cannot_take_a_principal_name(world: World) -> None:
    before = world.snapshot()
    for name in ("scheduler", " Scheduler ", "SCHEDULER"):
        rename = {
            "model_name": "User",
            "query_filters": {"id": ANNA.id},
            "update_type": "first_match",
            "object_values": {"username": name},
        }
        reply = call("update_items", rename, ANNA)
        assert reply.status == 403, reply.envelope
        assert "field=username reserved" in reply.server_message
        assert "at /object_values/username" in reply.server_message
    create = {
        "model_name": "User",
        "object_values": {"username": "scheduler", "email": "s@example.com", "phone": "1"},
    }
    assert call("create_items", create).status == 403
    assert world.snapshot() == before
    ok = {"model_name": "User", "query_filters": {"id": ANNA.id}, "update_type": "first_match",
          "object_values": {"username": "scheduler-fan"}}  # fmt: skip
    assert call("update_items", ok, ANNA).status == 201


def test_only_an_adopted_user_is_matched_by_email_and_only_when_it_is_verified(world: World) -> None:
    """erik has no Cognito subject yet. A token for his address is not him while his row holds no
    Flask-era password (whatever email_verified says); once it holds one (an adopted user at the
    first sign-in) it is him only with email_verified true, and his row takes the subject."""
    erik = {"sub": "someone-else", "email": "erik@example.com"}
    body = {"model_name": "Item", "requested_data": ["id"]}

    def unknown(verified: str) -> None:
        claims = {**claims_of(ANNA), **erik, "email_verified": verified}
        reply = invoke("get_items", event_for("get_items", body, claims))
        assert reply.status == 403, reply.envelope
        assert "UnknownUser" in reply.server_message
        assert world.scalar('SELECT cognito_sub FROM "User" WHERE id = 3') is None

    for verified in ("true", "false", ""):
        unknown(verified)
    with world.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO legacy.user_password (user_id, password) VALUES (3, 'pbkdf2:sha256:1$x$y')")
        )
    for verified in ("false", "False", ""):
        unknown(verified)
    claims = {**claims_of(ANNA), **erik, "email_verified": "true"}
    assert invoke("get_items", event_for("get_items", body, claims)).status == 200
    assert world.scalar('SELECT cognito_sub FROM "User" WHERE id = 3') == "someone-else"
    assert world.scalar("SELECT count(*) FROM legacy.user_password") == 0


def _delete(model: str, filters: dict[str, Any]) -> dict[str, Any]:
    return {"model_name": model, "object_values": {"query_filters": filters, "deletion_type": "delete_all"}}


def test_an_admin_cannot_delete_a_role_they_hold_or_their_own_account(world: World) -> None:
    before = world.snapshot()
    for body in (
        _delete("Role", {"role": "Admin"}),
        _delete("Role", {"id": [1, 3]}),
        _delete("User", {"id": ADMIN.id}),
    ):
        reply = call("delete_items", body)
        assert reply.status == 403, reply.envelope
        assert "self-grant" in reply.server_message
    assert world.snapshot() == before
    assert call("delete_items", _delete("Role", {"role": "Viewer"})).status == 201
    assert call("delete_items", _delete("User", {"id": 4})).status == 201
    assert _roles_of(world, ADMIN.id) == ["Admin"]
