"""User writes mirror Cognito users (docs/contract.md §7 "Users live in Cognito", §4.5), through the
create/update/delete handlers, in-process, with moto's Cognito.

Order under test: database work flushed first, then Cognito, then the commit; deletes leave Cognito
only after the commit; a transaction that fails after Cognito was told is compensated and never
retried. Cognito failures are injected before they reach moto (the harness of
tests/support/cognito.py records every call the layer's client makes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from dataapi.db import engine as dbmod
from dataapi.models import Item, User
from tests.handler.session_support import ANNA, ANNA_PASSWORD, World, login, write
from tests.handler.support import CALLER_EMAIL, Db
from tests.support.cognito import POLICY_TEXT, client_error, network_error, reset_layer

BO, BO_PASSWORD = "bo@example.com", "Bo-pass-2025!!"
MISSING = 999_999


# ---- requests ----------------------------------------------------------------------------------


def new_user(email: str = BO, password: str | None = BO_PASSWORD, **values: Any) -> dict[str, Any]:
    object_values: dict[str, Any] = {"username": email.split("@")[0], "email": email, "phone": "+46 8 123 45"}
    if password is not None:
        object_values["password"] = password
    object_values.update(values)
    return {
        "model_name": "User",
        "object_values": object_values,
        "requested_data": ["id", "email", "cognito_sub", {"roles": ["role"]}],
    }


def user_update(user_id: int, **values: Any) -> dict[str, Any]:
    return {
        "model_name": "User",
        "object_values": values,
        "query_filters": {"id": user_id},
        "update_type": "first_match",
    }


def user_delete(user_id: int) -> dict[str, Any]:
    return {
        "model_name": "User",
        "object_values": {"query_filters": {"id": user_id}, "deletion_type": "delete_first"},
    }


def failing_create() -> dict[str, Any]:
    """A create that passes validation and fails at run time: its link matches nothing (404)."""
    link = {"Dealer": {"query_filters": {"id": MISSING}, "link_type": "first_link"}}
    return {
        "model_name": "Item",
        "object_values": {"article_number": "x", "dealer": {"action": "link", "values": link}},
    }


def failing_update() -> dict[str, Any]:
    return {"model_name": "Item", "object_values": {"state": "Sold"}, "query_filters": {"id": MISSING},
            "update_type": "first_match"}  # fmt: skip


def failing_delete() -> dict[str, Any]:
    return {
        "model_name": "Item",
        "object_values": {"query_filters": {"id": MISSING}, "deletion_type": "delete_first"},
    }


def rows_of(world: World) -> list[str]:
    with Session(world.engine) as session:
        return sorted(session.scalars(select(User.email)))


def can_log_in(email: str, password: str) -> bool:
    reply = login(email, password)
    assert reply.status in (200, 401), reply.envelope
    return reply.status == 200


# ---- create ------------------------------------------------------------------------------------


def test_create_with_password_makes_a_confirmed_cognito_user_and_gives_default_roles(world: World) -> None:
    """GIVEN an Admin WHEN it creates a User with a password and no roles action
    THEN 201; a Cognito user with username = email, email verified, the password permanent (a login
    with it succeeds), message suppressed; the row holds its sub; and the User got the default
    role Buyer in the same request."""
    reply = write("create_items", new_user())

    assert reply.status == 201, reply.envelope
    (created,) = reply.body
    cognito_user = world.directory.user(BO)
    assert cognito_user is not None
    assert cognito_user["attributes"]["email"] == BO
    assert cognito_user["attributes"]["email_verified"] == "true"
    assert cognito_user["UserStatus"] == "CONFIRMED"
    assert cognito_user["Enabled"] is True
    assert created == {
        "id": created["id"],
        "email": BO,
        "cognito_sub": cognito_user["attributes"]["sub"],
        "roles": [{"role": "Buyer"}],
    }
    assert world.directory.operations() == ["AdminCreateUser", "AdminSetUserPassword"]
    (create_call,) = world.directory.params("AdminCreateUser")
    assert create_call["Username"] == BO
    assert create_call["MessageAction"] == "SUPPRESS"
    assert {"Name": "email_verified", "Value": "true"} in create_call["UserAttributes"]
    (password_call,) = world.directory.params("AdminSetUserPassword")
    assert password_call["Permanent"] is True
    assert password_call["Password"] == BO_PASSWORD
    logged_in = login(BO, BO_PASSWORD)
    assert logged_in.status == 200, logged_in.envelope
    assert logged_in.body[0]["payload"]["roles"] == [{"role": "Buyer", "id": world.buyer_role.id}]


def test_create_with_a_roles_action_gets_no_default_roles(world: World) -> None:
    """GIVEN an Admin WHEN it creates a User with a roles link to Admin THEN only Admin is given."""
    link = {
        "action": "link",
        "values": {"Role": {"query_filters": {"role": "Admin"}, "link_type": "first_link"}},
    }

    reply = write("create_items", new_user(roles=link))

    assert reply.status == 201, reply.envelope
    assert reply.body[0]["roles"] == [{"role": "Admin"}]


def test_create_without_password_touches_no_cognito(world: World) -> None:
    """GIVEN an Admin WHEN it creates a User without password
    THEN 201 with the default role and no sub, and Cognito is never called."""
    reply = write("create_items", new_user(password=None))

    assert reply.status == 201, reply.envelope
    assert reply.body[0]["cognito_sub"] is None
    assert reply.body[0]["roles"] == [{"role": "Buyer"}]
    assert world.directory.calls == []
    assert world.directory.emails() == []


def test_password_is_never_readable(world: World) -> None:
    """GIVEN a created user WHEN `password` is requested back THEN 400 (not a field)."""
    request = new_user()
    request["requested_data"] = ["id", "password"]

    reply = write("create_items", request)

    assert reply.status == 400, reply.envelope
    assert world.directory.calls == []
    assert rows_of(world) == [CALLER_EMAIL]


@pytest.mark.parametrize(
    "password", ["Sh0rt!", "no-upper-case-1", "NO-LOWER-CASE-1", "No-digits-here", "NoSymbols123"]
)
def test_create_with_an_invalid_password_is_400_and_leaves_nothing(world: World, password: str) -> None:
    """GIVEN a password the pool's policy refuses WHEN an Admin creates a User with it
    THEN 400 naming `password` and stating the policy; no User row and no Cognito user remain."""
    reply = write("create_items", new_user(password=password))

    assert reply.status == 400, reply.envelope
    assert "password" in reply.message
    assert POLICY_TEXT in reply.message
    assert "field=password" in reply.server_message
    assert rows_of(world) == [CALLER_EMAIL]
    assert world.directory.emails() == []
    assert world.directory.operations() == ["AdminCreateUser", "AdminSetUserPassword", "AdminDeleteUser"]


def test_create_with_an_email_known_only_to_cognito_is_409_and_leaves_it_alone(world: World) -> None:
    """GIVEN a Cognito user bo@ without a User row WHEN an Admin creates User bo@ with a password
    THEN 409 naming `email`; no row is written and the existing Cognito user is untouched."""
    world.directory.add_user(BO, "Existing-pass-1!")

    reply = write("create_items", new_user())

    assert reply.status == 409, reply.envelope
    assert "'email'" in reply.message
    assert "field=email" in reply.server_message
    assert rows_of(world) == [CALLER_EMAIL]
    assert world.directory.operations() == ["AdminCreateUser"]
    existing = world.directory.user(BO)
    assert existing is not None and existing["Enabled"] is True
    assert world.directory.id_token(BO, "Existing-pass-1!")


@pytest.mark.parametrize("email", [CALLER_EMAIL, CALLER_EMAIL.upper()], ids=["same-case", "other-case"])
def test_create_with_an_email_of_another_row_is_409_before_cognito(world: World, email: str) -> None:
    """GIVEN a User row with an email WHEN an Admin creates a User with that email (in the same or
    another case) and a password THEN 409, and Cognito was never called (database work first)."""
    reply = write("create_items", new_user(email=email, username="another"))

    assert reply.status == 409, reply.envelope
    assert world.directory.calls == []
    assert world.directory.emails() == []


def test_a_duplicate_email_in_another_case_is_named_in_the_409(world: World) -> None:
    """GIVEN a User row with an email WHEN a User with that email in upper case is created
    THEN the 409 says "The value '...' for field 'email' already exists." (docs/contract.md §4.5), as it does
    for the same email in the same case."""
    same = write("create_items", new_user(email=CALLER_EMAIL, username="another", password=None))
    assert "for field 'email' already exists" in same.message, same.envelope

    reply = write("create_items", new_user(email=CALLER_EMAIL.upper(), username="another", password=None))

    assert reply.status == 409, reply.envelope
    assert "for field 'email' already exists" in reply.message, reply.envelope
    assert "field=email" in reply.server_message, reply.envelope


# ---- update ------------------------------------------------------------------------------------


def test_email_change_updates_cognito(world: World) -> None:
    """GIVEN a user with a Cognito account WHEN an Admin changes its email
    THEN 201; Cognito's email is the new one (verified), a login with it works, the old fails."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)

    reply = write("update_items", user_update(user.id, email="anna.lund@example.com"))

    assert reply.status == 201, reply.envelope
    assert world.directory.params("AdminUpdateUserAttributes") == [
        {
            "UserPoolId": world.directory.pool_id,
            "Username": user.cognito_sub,
            "UserAttributes": [
                {"Name": "email", "Value": "anna.lund@example.com"},
                {"Name": "email_verified", "Value": "true"},
            ],
        }
    ]
    assert world.directory.user(user.cognito_sub)["attributes"]["email"] == "anna.lund@example.com"  # type: ignore[index]
    assert can_log_in("anna.lund@example.com", ANNA_PASSWORD)
    assert not can_log_in(ANNA, ANNA_PASSWORD)


def test_password_change_sets_a_permanent_password(world: World) -> None:
    """GIVEN a user with a Cognito account WHEN an Admin sets a new password
    THEN 201; a login with the new password works, with the old one it fails."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)

    reply = write("update_items", user_update(user.id, password="Anna-new-pass-9!"))

    assert reply.status == 201, reply.envelope
    assert world.directory.params("AdminSetUserPassword") == [
        {
            "UserPoolId": world.directory.pool_id,
            "Username": user.cognito_sub,
            "Password": "Anna-new-pass-9!",
            "Permanent": True,
        }
    ]
    assert can_log_in(ANNA, "Anna-new-pass-9!")
    assert not can_log_in(ANNA, ANNA_PASSWORD)


def test_email_and_password_change_together_sets_the_password_last(world: World) -> None:
    """GIVEN a user WHEN email and password change in one update
    THEN the attributes are updated first and the password set last; the new pair logs in."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)

    reply = write(
        "update_items", user_update(user.id, email="anna.lund@example.com", password="Anna-new-pass-9!")
    )

    assert reply.status == 201, reply.envelope
    assert world.directory.operations() == ["AdminUpdateUserAttributes", "AdminSetUserPassword"]
    assert can_log_in("anna.lund@example.com", "Anna-new-pass-9!")


def test_an_invalid_new_password_is_400_and_keeps_the_row(world: World) -> None:
    """GIVEN a user WHEN an Admin changes its phone and sets a password the policy refuses
    THEN 400 naming password and the policy; the phone is unchanged and the old password works."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)

    reply = write("update_items", user_update(user.id, phone="+46 1", password="weak"))

    assert reply.status == 400, reply.envelope
    assert "password" in reply.message and POLICY_TEXT in reply.message
    assert world.row(user.id).phone == "+46 70 123 45 67"  # type: ignore[union-attr]
    assert can_log_in(ANNA, ANNA_PASSWORD)


def test_other_column_changes_touch_no_cognito(world: World) -> None:
    """GIVEN a user WHEN an Admin changes its phone, and sets its email to the same in other case
    THEN 201 and Cognito is never called."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)

    assert write("update_items", user_update(user.id, phone="+46 1")).status == 201
    assert write("update_items", user_update(user.id, email=ANNA.upper())).status == 201
    assert world.directory.calls == []


def test_a_buyer_changes_its_own_password(world: World) -> None:
    """GIVEN a logged-in Buyer WHEN it updates its own row's password (policy: own row)
    THEN 201 and its new password logs in; for another user's row Cognito is never called."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    other = world.add_user(BO, roles=[world.buyer_role], password=BO_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))

    own = write("update_items", user_update(user.id, password="Anna-new-pass-9!"), claims)
    foreign = write("update_items", user_update(other.id, password="Hijacked-pass-9!"), claims)

    assert own.status == 201, own.envelope
    assert foreign.status == 403, foreign.envelope
    assert [p["Username"] for p in world.directory.params("AdminSetUserPassword")] == [user.cognito_sub]
    assert can_log_in(ANNA, "Anna-new-pass-9!")
    assert can_log_in(BO, BO_PASSWORD)


def test_an_email_taken_in_cognito_is_409_naming_email(world: World) -> None:
    """GIVEN Cognito refuses an email change because another account has that email
    (AliasExistsException) WHEN an Admin changes a user's email THEN 409 naming `email`, and the
    row keeps its email."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    failure = client_error("AliasExistsException", "AdminUpdateUserAttributes")
    world.directory.failures["AdminUpdateUserAttributes"] = failure

    reply = write("update_items", user_update(user.id, email="taken@example.com"))

    assert reply.status == 409, reply.envelope
    assert "'email'" in reply.message
    assert world.row(user.id).email == ANNA  # type: ignore[union-attr]


def test_an_invalid_password_with_an_email_change_restores_the_email(world: World) -> None:
    """GIVEN a user WHEN one update changes its email and sets a password the policy refuses
    THEN 400 naming password; the email Cognito was already given is restored (the old email
    logs in with the old password) and the row keeps the old email."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)

    reply = write("update_items", user_update(user.id, email="anna.lund@example.com", password="weak"))

    assert reply.status == 400, reply.envelope
    assert "password" in reply.message
    assert world.directory.operations() == [
        "AdminUpdateUserAttributes",
        "AdminSetUserPassword",
        "AdminUpdateUserAttributes",
    ]
    assert world.row(user.id).email == ANNA  # type: ignore[union-attr]
    assert world.directory.user(user.cognito_sub)["attributes"]["email"] == ANNA  # type: ignore[index]
    assert can_log_in(ANNA, ANNA_PASSWORD)


# ---- delete ------------------------------------------------------------------------------------


def test_delete_disables_then_deletes_the_cognito_user_after_the_commit(world: World) -> None:
    """GIVEN a user with a Cognito account WHEN an Admin deletes it
    THEN 201; Cognito was told AdminDisableUser inside the transaction and AdminDeleteUser only
    once the row's deletion was committed; the row and the Cognito user are gone."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    seen_at_delete: list[list[str]] = []
    world.directory.probes["AdminDeleteUser"] = lambda _: seen_at_delete.append(rows_of(world))

    reply = write("delete_items", user_delete(user.id))

    assert reply.status == 201, reply.envelope
    assert world.directory.operations() == ["AdminDisableUser", "AdminDeleteUser"]
    assert [p["Username"] for _, p in world.directory.calls] == [user.cognito_sub, user.cognito_sub]
    assert seen_at_delete == [[CALLER_EMAIL]], "AdminDeleteUser ran before the commit"
    assert world.row(user.id) is None
    assert world.directory.user(ANNA) is None


def test_delete_keeps_the_user_disabled_when_cognito_deletion_fails(world: World) -> None:
    """GIVEN AdminDeleteUser keeps failing WHEN an Admin deletes a user
    THEN 201 (the commit holds), the deletion was retried, and the Cognito user stays disabled."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    world.directory.failures["AdminDeleteUser"] = client_error("InternalErrorException", "AdminDeleteUser")

    reply = write("delete_items", user_delete(user.id))

    assert reply.status == 201, reply.envelope
    assert world.row(user.id) is None
    assert world.directory.operations().count("AdminDeleteUser") == 3
    remaining = world.directory.user(ANNA)
    assert remaining is not None and remaining["Enabled"] is False
    assert not can_log_in(ANNA, ANNA_PASSWORD)


def test_delete_of_a_user_without_cognito_account_touches_no_cognito(world: World) -> None:
    user = world.add_user(ANNA, roles=[world.buyer_role])

    reply = write("delete_items", user_delete(user.id))

    assert reply.status == 201, reply.envelope
    assert world.directory.calls == []


def test_a_failed_disable_in_a_delete_all_re_enables_the_users_already_disabled(world: World) -> None:
    """GIVEN two users with Cognito accounts and AdminDisableUser failing for the second one asked
    WHEN an Admin deletes both (delete_all) THEN 503; both rows remain, the first user is enabled
    again and neither is deleted from Cognito."""
    first = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    second = world.add_user(BO, roles=[world.buyer_role], password=BO_PASSWORD)
    asked: list[str] = []

    def second_fails(params: dict[str, Any]) -> None:
        asked.append(params["Username"])
        if len(asked) == 2:
            raise client_error("TooManyRequestsException", "AdminDisableUser")

    world.directory.probes["AdminDisableUser"] = second_fails
    request = user_delete(first.id)
    request["object_values"] = {"query_filters": {"id": [first.id, second.id]}, "deletion_type": "delete_all"}

    reply = write("delete_items", request)

    assert reply.status == 503, reply.envelope
    assert sorted(asked) == sorted([first.cognito_sub, second.cognito_sub])
    assert [p["Username"] for p in world.directory.params("AdminEnableUser")] == asked[:1]
    assert "AdminDeleteUser" not in world.directory.operations()
    assert world.row(first.id) is not None and world.row(second.id) is not None
    assert world.directory.user(ANNA)["Enabled"] is True  # type: ignore[index]
    assert world.directory.user(BO)["Enabled"] is True  # type: ignore[index]


# ---- compensation ------------------------------------------------------------------------------


def test_a_created_cognito_user_is_deleted_when_a_later_member_fails(world: World) -> None:
    """GIVEN a batch [create User with password, create an Item whose link matches nothing]
    WHEN an Admin sends it THEN 404; the Cognito user created for the first member is deleted
    again (by the name it was created by) and no User row remains."""
    reply = write("create_items", [new_user(), failing_create()])

    assert reply.status == 404, reply.envelope
    assert rows_of(world) == [CALLER_EMAIL]
    assert world.directory.emails() == []
    assert [p["Username"] for p in world.directory.params("AdminDeleteUser")] == [BO]


@contextmanager
def answered(operation: str, change: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Cognito acts on `operation`, then its answer, as the layer's client reads it, is changed
    (or lost: `change` raises)."""
    from dataapi.identity import cognito

    def after_call(parsed: dict[str, Any], **_: Any) -> None:
        change(parsed)

    events = cognito.client().meta.events
    name = f"after-call.cognito-identity-provider.{operation}"
    events.register(name, after_call)
    try:
        yield
    finally:
        events.unregister(name, after_call)


def test_a_created_cognito_user_is_deleted_when_its_answer_has_no_user(world: World) -> None:
    """GIVEN Cognito creates the user but answers without `User` WHEN an Admin creates a User with
    a password THEN 500 (the answer cannot be read), no row, and the Cognito user was deleted
    again: the undo is recorded before the answer is read."""
    with answered("AdminCreateUser", lambda parsed: parsed.pop("User")):
        reply = write("create_items", new_user())

    assert reply.status == 500, reply.envelope
    assert rows_of(world) == [CALLER_EMAIL]
    assert world.directory.operations() == ["AdminCreateUser", "AdminDeleteUser"]
    assert world.directory.emails() == []


def _timed_out(parsed: dict[str, Any]) -> None:
    raise ReadTimeoutError(endpoint_url="https://cognito-idp.eu-north-1.amazonaws.com/")


def test_a_created_cognito_user_is_deleted_when_its_answer_is_lost(world: World) -> None:
    """GIVEN Cognito creates the user but its answer never arrives (a read timeout) WHEN an Admin
    creates a User with a password THEN 503, no row, and the Cognito user was deleted again: a
    call that may have acted is undone."""
    with answered("AdminCreateUser", _timed_out):
        reply = write("create_items", new_user())

    assert reply.status == 503, reply.envelope
    assert rows_of(world) == [CALLER_EMAIL]
    assert world.directory.emails() == []


def test_a_created_cognito_user_is_deleted_when_a_later_row_conflicts(world: World) -> None:
    """GIVEN a batch [create User bo@ with password, create a User whose username exists]
    WHEN an Admin sends it THEN 409 (the second row's flush) and bo@'s Cognito user is deleted."""
    reply = write("create_items", [new_user(), new_user("x@example.com", username="handler-tests")])

    assert reply.status == 409, reply.envelope
    assert "username" in reply.message
    assert rows_of(world) == [CALLER_EMAIL]
    assert world.directory.emails() == []


def test_a_disabled_user_is_enabled_again_when_a_later_member_fails(world: World) -> None:
    """GIVEN a batch [delete User anna@, delete an Item that does not exist]
    WHEN an Admin sends it THEN 404; anna@'s row remains, its Cognito user is enabled again (it
    can log in) and never deleted."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)

    reply = write("delete_items", [user_delete(user.id), failing_delete()])

    assert reply.status == 404, reply.envelope
    assert world.row(user.id) is not None
    assert world.directory.operations() == ["AdminDisableUser", "AdminEnableUser"]
    assert world.directory.user(ANNA)["Enabled"] is True  # type: ignore[index]
    assert can_log_in(ANNA, ANNA_PASSWORD)


def test_a_changed_email_is_restored_when_a_later_member_fails(world: World) -> None:
    """GIVEN a batch [change anna@'s email, update an Item that does not exist]
    WHEN an Admin sends it THEN 404; the row keeps the old email and so does Cognito: the old
    email logs in, the new one does not."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)

    reply = write("update_items", [user_update(user.id, email="anna.lund@example.com"), failing_update()])

    assert reply.status == 404, reply.envelope
    assert world.row(user.id).email == ANNA  # type: ignore[union-attr]
    assert world.directory.operations() == ["AdminUpdateUserAttributes", "AdminUpdateUserAttributes"]
    assert world.directory.user(user.cognito_sub)["attributes"]["email"] == ANNA  # type: ignore[index]
    assert can_log_in(ANNA, ANNA_PASSWORD)
    assert not can_log_in("anna.lund@example.com", ANNA_PASSWORD)


def test_a_restored_email_is_verified_again(world: World) -> None:
    """GIVEN a batch [change anna@'s email, update an Item that does not exist]
    WHEN it fails THEN the compensating call restores the old email as verified, as it was."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)

    reply = write("update_items", [user_update(user.id, email="anna.lund@example.com"), failing_update()])

    assert reply.status == 404, reply.envelope
    restore = world.directory.params("AdminUpdateUserAttributes")[-1]
    assert {"Name": "email", "Value": ANNA} in restore["UserAttributes"]
    assert {"Name": "email_verified", "Value": "true"} in restore["UserAttributes"]


# ---- no retry after Cognito --------------------------------------------------------------------


class _DriverError(Exception):
    pass


@contextmanager
def serialization_failure_at_commit(times: int = 1) -> Iterator[list[bool]]:
    """The handler's next `times` commits fail with SQLSTATE 40001; yields, per failed commit,
    whether Cognito had been called in that transaction."""
    failed: list[bool] = []

    def before_commit(session: Session) -> None:
        if session.bind is not dbmod.get_engine() or len(failed) >= times:
            return
        failed.append(bool(session.info.get(dbmod.EXTERNAL_CALL)))
        raise OperationalError(
            "COMMIT", {}, _DriverError({"S": "ERROR", "C": "40001", "M": "could not serialize access"})
        )

    event.listen(Session, "before_commit", before_commit)
    try:
        yield failed
    finally:
        event.remove(Session, "before_commit", before_commit)


def test_a_serialization_failure_after_cognito_is_not_retried_and_is_compensated(world: World) -> None:
    """GIVEN the commit fails with 40001 after the Cognito user was created
    WHEN an Admin creates a User with a password THEN 503; the transaction was not retried
    (AdminCreateUser called once), the Cognito user was deleted again and no row remains."""
    with serialization_failure_at_commit(times=2) as failed:
        reply = write("create_items", new_user())

    assert reply.status == 503, reply.envelope
    assert failed == [True], "retried after Cognito was called"
    assert world.directory.operations() == ["AdminCreateUser", "AdminSetUserPassword", "AdminDeleteUser"]
    assert world.directory.emails() == []
    assert rows_of(world) == [CALLER_EMAIL]


def test_a_serialization_failure_without_cognito_is_retried_once(world: World) -> None:
    """GIVEN the first commit fails with 40001 and no Cognito call was made
    WHEN an Admin creates a User without password THEN the transaction is retried and holds: 201,
    one row."""
    with serialization_failure_at_commit(times=1) as failed:
        reply = write("create_items", new_user(password=None))

    assert reply.status == 201, reply.envelope
    assert failed == [False]
    assert rows_of(world) == sorted([BO, CALLER_EMAIL])


def test_a_serialization_failure_after_cognito_on_update_is_not_retried(world: World) -> None:
    """GIVEN the commit of an email change fails with 40001 WHEN it is sent THEN 503, one
    forward call and one restoring call, and Cognito keeps the old email."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)

    with serialization_failure_at_commit(times=2) as failed:
        reply = write("update_items", user_update(user.id, email="anna.lund@example.com"))

    assert reply.status == 503, reply.envelope
    assert failed == [True]
    assert world.directory.operations() == ["AdminUpdateUserAttributes", "AdminUpdateUserAttributes"]
    assert world.directory.user(user.cognito_sub)["attributes"]["email"] == ANNA  # type: ignore[index]


# ---- 5. Cognito throttled or unreachable -------------------------------------------------------


ERRORS = {
    "throttled": lambda op: client_error("TooManyRequestsException", op),
    "limit": lambda op: client_error("LimitExceededException", op),
    "unreachable": lambda op: network_error(),
}


@pytest.mark.parametrize("error", sorted(ERRORS))
@pytest.mark.parametrize("operation", ["AdminCreateUser", "AdminSetUserPassword"])
def test_create_when_cognito_fails_is_503_with_nothing_written(
    world: World, operation: str, error: str
) -> None:
    """GIVEN Cognito throttles or cannot be reached on creating the user or setting its password
    WHEN an Admin creates a User with a password THEN 503; no row, and no Cognito user remains."""
    world.directory.failures[operation] = ERRORS[error](operation)

    reply = write("create_items", new_user())

    assert reply.status == 503, reply.envelope
    assert "Unavailable" in reply.server_message
    assert rows_of(world) == [CALLER_EMAIL]
    assert world.directory.emails() == []


@pytest.mark.parametrize("error", sorted(ERRORS))
def test_email_change_when_cognito_fails_is_503_with_nothing_written(world: World, error: str) -> None:
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    world.directory.failures["AdminUpdateUserAttributes"] = ERRORS[error]("AdminUpdateUserAttributes")

    reply = write("update_items", user_update(user.id, email="anna.lund@example.com", phone="+46 1"))

    assert reply.status == 503, reply.envelope
    row = world.row(user.id)
    assert (row.email, row.phone) == (ANNA, "+46 70 123 45 67")  # type: ignore[union-attr]
    assert world.directory.user(user.cognito_sub)["attributes"]["email"] == ANNA  # type: ignore[index]


@pytest.mark.parametrize("error", sorted(ERRORS))
def test_password_change_when_cognito_fails_is_503_with_nothing_written(world: World, error: str) -> None:
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    world.directory.failures["AdminSetUserPassword"] = ERRORS[error]("AdminSetUserPassword")

    reply = write("update_items", user_update(user.id, password="Anna-new-pass-9!", phone="+46 1"))

    assert reply.status == 503, reply.envelope
    assert world.row(user.id).phone == "+46 70 123 45 67"  # type: ignore[union-attr]
    assert can_log_in(ANNA, ANNA_PASSWORD)


@pytest.mark.parametrize("error", sorted(ERRORS))
def test_delete_when_cognito_fails_is_503_with_nothing_written(world: World, error: str) -> None:
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    world.directory.failures["AdminDisableUser"] = ERRORS[error]("AdminDisableUser")

    reply = write("delete_items", user_delete(user.id))

    assert reply.status == 503, reply.envelope
    assert world.row(user.id) is not None
    assert world.directory.user(ANNA)["Enabled"] is True  # type: ignore[index]
    assert "AdminDeleteUser" not in world.directory.operations()


# ---- the directory not configured --------------------------------------------------------------


def test_without_a_pool_a_user_write_needing_cognito_is_503(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN COGNITO_USER_POOL_ID is unset WHEN an Admin creates a User with a password
    THEN 503 "not configured" and no row; a User without password is still created."""
    monkeypatch.delenv("COGNITO_USER_POOL_ID")
    reset_layer()

    needs = write("create_items", new_user())
    plain = write("create_items", new_user(ANNA, password=None))

    assert needs.status == 503, needs.envelope
    assert "not configured" in needs.message
    assert "DirectoryNotConfigured" in needs.server_message
    assert plain.status == 201, plain.envelope
    assert rows_of(world) == sorted([ANNA, CALLER_EMAIL])


def test_with_only_database_url_a_user_write_needing_cognito_says_not_configured(
    db: Db, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GIVEN only DATABASE_URL is set (no Cognito settings, no AWS region: docs/contract.md §2)
    WHEN an Admin creates a User with a password THEN 503 "user directory not configured" (not a
    boto3 region or credentials error), and no row is written."""
    for name in ("COGNITO_USER_POOL_ID", "COGNITO_APP_CLIENT_ID", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset_layer()
    try:
        reply = write("create_items", new_user())
    finally:
        reset_layer()

    assert reply.status == 503, reply.envelope
    assert "not configured" in reply.message, reply.envelope
    assert "DirectoryNotConfigured" in reply.server_message
    with Session(db.engine) as session:
        assert session.scalars(select(User.email)).all() == [CALLER_EMAIL]


def test_items_in_the_same_request_as_a_failed_user_are_rolled_back(world: World) -> None:
    """GIVEN a batch [create an Item, create a User whose password Cognito refuses]
    WHEN an Admin sends it THEN 400 and the Item is not written either (one transaction)."""
    reply = write("create_items", [{"model_name": "Item", "object_values": {"article_number": "A-1"}},
                                   new_user(password="weak")])  # fmt: skip

    assert reply.status == 400, reply.envelope
    with Session(world.engine) as session:
        assert session.scalars(select(Item.id)).all() == []
