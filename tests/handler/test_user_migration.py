"""Users of the Flask backend sign in with the passwords they have (docs/adoption.md).

- `functions/user_migration/app.py`, Cognito's "Migrate user" trigger, invoked in-process with the
  trigger events kept in `events/user_migration_*.json`, on a database adopted from the Flask schema
  with legacy rows (tests/fixtures/legacy.py): clear text, werkzeug pbkdf2 and scrypt hashes;
- POST /api/login with moto's Cognito, the trigger run where Cognito would (devtools.cognito_triggers,
  as on the local stack): a legacy user gets a token, the first authenticated request links the row
  and erases the legacy password; a password below the pool's policy gets its own message, and an
  Admin sets a new one through the User update;
- the same sign-in over HTTP through the local gateway on the real template.yaml.
"""

from __future__ import annotations

import copy
import http.client
import importlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from dataapi.identity import cognito
from dataapi.identity.legacy_login import MigrationRefused, meets_policy, verify
from dataapi.settings import get_settings
from devtools.cognito_triggers import UserMigration
from devtools.gateway import Gateway, make_server
from devtools.template import TEMPLATE
from tests.fixtures.legacy import PASSWORDS, PBKDF2, SCRYPT
from tests.handler.session_support import login, me, write
from tests.handler.support import CALLER_EMAIL, CALLER_SUB, ORIGIN
from tests.support.cognito import Directory, start_directory
from tests.support.lambda_context import FakeLambdaContext

pytestmark = pytest.mark.db

EVENTS = Path(__file__).parent / "events"
HANDLER = importlib.import_module("functions.user_migration.app").lambda_handler
WORKER, PHOTO, ADMIN = "worker@example.com", "photo@example.com", "admin@example.com"


def trigger_event(name: str = "user_migration_authentication", **request: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    user = request.pop("userName", None)
    if user is not None:
        event["userName"] = user
    event["request"].update(request)
    return event


def run_trigger(event: dict[str, Any]) -> dict[str, Any]:
    return HANDLER(copy.deepcopy(event), FakeLambdaContext(function_name="dataapi-dev-UserMigrationFunction"))


def legacy_passwords(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT user_id, password FROM legacy.user_password")).all())


def sql(engine: Engine, statement: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


# ---- the trigger --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "form"), [(WORKER, "pbkdf2"), (PHOTO, "scrypt"), ("Admin@EXAMPLE.com", "clear text")]
)
def test_the_right_password_migrates_the_user_confirmed_and_without_a_message(
    legacy_db: Engine, email: str, form: str
) -> None:
    if form == "clear text":  # the fixture's clear-text password is below the policy: give one above
        sql(legacy_db, "UPDATE legacy.user_password SET password = 'Clear-Pass-1!' WHERE user_id = 1")
    password = {WORKER: PASSWORDS[WORKER], PHOTO: PASSWORDS[PHOTO]}.get(email, "Clear-Pass-1!")

    answer = run_trigger(trigger_event(userName=email, password=password))

    stored_email = {WORKER: WORKER, PHOTO: PHOTO}.get(email, "Admin@Example.com")
    assert answer["response"] == {
        "userAttributes": {"email": stored_email, "email_verified": "true"},
        "finalUserStatus": "CONFIRMED",
        "messageAction": "SUPPRESS",
    }
    assert answer["userName"] == email and answer["triggerSource"] == "UserMigration_Authentication"
    assert len(legacy_passwords(legacy_db)) == 3  # erased only once Cognito holds the user


@pytest.mark.parametrize(
    ("email", "password"),
    [
        (WORKER, "Worker-Pass-2"),  # wrong
        (WORKER, PBKDF2),  # the stored hash itself is not the password
        (WORKER, ""),
        ("nobody@example.com", "Worker-Pass-1"),  # no such user
        ("", "Worker-Pass-1"),
    ],
)
def test_anything_but_the_right_password_is_refused_alike(
    legacy_db: Engine, email: str, password: str
) -> None:
    with pytest.raises(MigrationRefused, match=r"^Incorrect username or password\.$"):
        run_trigger(trigger_event(userName=email, password=password))


def test_a_user_already_linked_to_cognito_is_not_migrated_again(legacy_db: Engine) -> None:
    sql(legacy_db, "UPDATE \"User\" SET cognito_sub = 'linked' WHERE id = 2")
    with pytest.raises(MigrationRefused, match="Incorrect"):
        run_trigger(trigger_event(password=PASSWORDS[WORKER]))


def test_the_forgot_password_flow_migrates_no_one(legacy_db: Engine) -> None:
    with pytest.raises(MigrationRefused, match="Only sign-in"):
        run_trigger(trigger_event("user_migration_forgot_password"))


def test_a_right_password_below_the_pools_policy_asks_for_a_new_one(legacy_db: Engine) -> None:
    with pytest.raises(MigrationRefused) as refused:
        run_trigger(trigger_event(userName=ADMIN, password=PASSWORDS[ADMIN]))
    assert str(refused.value).startswith("PASSWORD_RENEWAL: ")
    assert get_settings().password_policy in str(refused.value)


def test_passwords_compare_as_werkzeug_hashes_or_clear_text() -> None:
    assert verify("Worker-Pass-1", PBKDF2) and not verify("worker-pass-1", PBKDF2)
    assert verify("Scrypt-Pass-2", SCRYPT) and not verify("Scrypt-Pass-3", SCRYPT)
    assert verify("abcdefg", "abcdefg") and not verify("abcdefG", "abcdefg")
    assert not verify("x", "pbkdf2:nohash:10$salt$00") and not verify("x", "scrypt:0:8:1$salt$00")
    assert not verify(PBKDF2, PBKDF2) and not verify(SCRYPT, SCRYPT)  # never the stored hash itself


def test_the_policy_check_follows_the_pools_rules() -> None:
    assert meets_policy("Worker-Pass-1", 10)
    assert not meets_policy("abcdefg", 7)  # no upper case, number or symbol
    assert not meets_policy("Worker-Pass-1", 14)
    assert not meets_policy("WorkerPass12", 10)  # no symbol


# ---- POST /api/login with the trigger where Cognito would call it -----------------------------------


@pytest.fixture
def migrating_directory(legacy_db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Directory]:
    """moto's Cognito, with the template's user-migration trigger run as the local stack runs it."""
    with start_directory(monkeypatch) as d:
        # mock_aws starts a new default session: the hook goes on it, and the layer's client is remade.
        hook = UserMigration(TEMPLATE).install()
        cognito.client.cache_clear()
        try:
            yield d
        finally:
            hook.uninstall()


def test_a_legacy_user_logs_in_with_the_old_password_and_the_first_request_erases_it(
    legacy_db: Engine, migrating_directory: Directory
) -> None:
    reply = login(WORKER, PASSWORDS[WORKER])

    assert reply.status == 200, reply.envelope
    assert reply.body[0]["payload"]["username"] == "worker"
    assert reply.body[0]["payload"]["roles"] == [{"role": "Worker", "id": 2}]
    assert migrating_directory.user(WORKER)["UserStatus"] == "CONFIRMED"
    assert 2 in legacy_passwords(legacy_db)

    claims = migrating_directory.claims(reply.body[0]["token"])
    who = me(claims)
    assert who.status == 200, who.envelope
    assert who.body[0]["id"] == 2
    assert 2 not in legacy_passwords(legacy_db) and len(legacy_passwords(legacy_db)) == 2
    with legacy_db.connect() as conn:
        assert conn.scalar(text('SELECT cognito_sub FROM "User" WHERE id = 2')) == claims["sub"]

    again = login(WORKER, PASSWORDS[WORKER])  # Cognito knows the user now: no trigger, same password
    assert again.status == 200, again.envelope


def test_a_wrong_legacy_password_is_the_usual_login_failure(
    legacy_db: Engine, migrating_directory: Directory
) -> None:
    reply = login(WORKER, "Worker-Pass-2")
    assert (reply.status, reply.message, reply.server_message) == (
        401,
        "Wrong email or password.",
        "Unauthenticated LoginFailed",
    )
    assert migrating_directory.user(WORKER) is None


def test_a_password_below_the_policy_is_told_and_an_admin_sets_a_new_one(
    legacy_db: Engine, migrating_directory: Directory
) -> None:
    # The harness's moto pool compares usernames case-sensitively (the template's pool does not).
    sql(legacy_db, 'UPDATE "User" SET email = lower(email) WHERE id = 1')
    refused = login(ADMIN, PASSWORDS[ADMIN])
    assert refused.status == 401, refused.envelope
    assert refused.server_message == "Unauthenticated PasswordRenewalRequired"
    assert "Ask an administrator to set a new password" in refused.message
    assert migrating_directory.user(ADMIN) is None

    # An Admin (the event files' caller) sets a new password through the existing User update.
    sql(
        legacy_db,
        "INSERT INTO \"User\" (username, email, phone, cognito_sub) VALUES ('it', :email, '-', :sub)",
        email=CALLER_EMAIL,
        sub=CALLER_SUB,
    )
    sql(
        legacy_db,
        "INSERT INTO user_roles (user_id, role_id) SELECT id, 1 FROM \"User\" WHERE username = 'it'",
    )
    update = {
        "model_name": "User",
        "object_values": {"password": "New-Admin-Pass-1"},
        "query_filters": {"id": 1},
        "update_type": "first_match",
    }
    updated = write("update_items", update)
    assert updated.status == 201, updated.envelope

    assert migrating_directory.user(ADMIN) is not None
    assert 1 not in legacy_passwords(legacy_db)
    assert login(ADMIN, PASSWORDS[ADMIN]).status == 401
    assert login(ADMIN, "New-Admin-Pass-1").status == 200


# ---- over HTTP, through the local gateway -----------------------------------------------------------


def post(host: str, port: int, path: str, body: Any, token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Origin": ORIGIN, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_legacy_user_signs_in_over_http_through_the_local_gateway(
    legacy_db: Engine, migrating_directory: Directory
) -> None:
    gateway = Gateway(
        TEMPLATE, issuer=migrating_directory.issuer, jwks_url=migrating_directory.jwks_url, audience=migrating_directory.client_id,
        origins=(ORIGIN,),
    )  # fmt: skip
    server = make_server(gateway, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        status, logged_in = post(host, port, "/api/login", {"email": PHOTO, "password": PASSWORDS[PHOTO]})
        assert status == 200, logged_in
        token = logged_in["body"][0]["token"]
        status, items = post(
            host, port, "/api/schemes/get_items", {"model_name": "Item", "requested_data": ["id"]}, token
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert status == 200, items
    assert sorted(row["id"] for row in items["body"]) == [1, 2, 3]
    assert 3 not in legacy_passwords(legacy_db)
