"""The session routes (docs/contract.md §7) through `functions/session/app.py`, in-process, with moto's Cognito.

POST /api/login (no authorizer), POST /api (who am I) and POST /api/logout are invoked as Lambda
would, with API Gateway REST events built by `support.event` whose authorizer claims are
replaced by the claims of real moto ID tokens, rendered as API Gateway renders them (all strings).
The last section sends the same routes through the local gateway (devtools/gateway.py) on the
real template.yaml. The Cognito harness is tests/support/cognito.py; the
database, calls and fixtures are session_support.py and conftest.py.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from devtools.gateway import Gateway, make_server
from devtools.template import TEMPLATE
from tests.handler import support
from tests.handler.session_support import (
    ANNA,
    ANNA_PASSWORD,
    World,
    invoke,
    load_event,
    login,
    login_event,
    logout,
    me,
    write,
)
from tests.handler.support import ORIGIN, Db, Reply
from tests.support.cognito import REGION, client_error, moto_signed, network_error, reset_layer

# ---- 1. login ----------------------------------------------------------------------------------


def test_login_answers_the_id_token_and_the_users_payload(world: World) -> None:
    """GIVEN a Cognito user with a User row holding roles Buyer and Admin
    WHEN it logs in with its email and password
    THEN 200 with one entry: the ID token of that user and {username, roles by id, profile_picture}."""
    user = world.add_user(ANNA, roles=[world.buyer_role, world.admin_role], password=ANNA_PASSWORD)

    reply = login(ANNA, ANNA_PASSWORD)

    assert reply.status == 200, reply.envelope
    assert len(reply.body) == 1
    entry = reply.body[0]
    assert set(entry) == {"token", "payload"}
    roles = sorted([world.admin_role, world.buyer_role], key=lambda r: r.id)
    assert entry["payload"] == {
        "username": "anna",
        "roles": [{"role": r.role, "id": r.id} for r in roles],
        "profile_picture": None,
    }
    claims = world.directory.claims(entry["token"])
    assert claims["token_use"] == "id"
    assert claims["sub"] == user.cognito_sub
    assert claims["email"] == ANNA
    assert claims["aud"] == world.directory.client_id
    assert world.directory.params("InitiateAuth") == [
        {
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": world.directory.client_id,
            "AuthParameters": {"USERNAME": ANNA, "PASSWORD": ANNA_PASSWORD},
        }
    ]


def test_login_of_a_role_less_user_succeeds_with_no_roles(world: World) -> None:
    """GIVEN a Cognito user whose row has no role WHEN it logs in THEN 200 with `roles: []`."""
    world.add_user(ANNA, password=ANNA_PASSWORD)

    reply = login(ANNA, ANNA_PASSWORD)

    assert reply.status == 200, reply.envelope
    assert reply.body[0]["payload"]["roles"] == []


def _refusal_cases(world: World) -> dict[str, Reply]:
    world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    world.add_user("bo@example.com", roles=[world.buyer_role], password="Bo-pass-2025!!")
    world.directory.idp.admin_disable_user(UserPoolId=world.directory.pool_id, Username="bo@example.com")
    world.directory.add_user("cecilia@example.com", "Cecilia-pass-2025!")  # no User row
    return {
        "unknown email": login("nobody@example.com", ANNA_PASSWORD),
        "wrong password": login(ANNA, "Wrong-pass-2025!"),
        "disabled user": login("bo@example.com", "Bo-pass-2025!!"),
        "no User row": login("cecilia@example.com", "Cecilia-pass-2025!"),
    }


def test_every_login_failure_is_the_same_401(world: World) -> None:
    """GIVEN an unknown email, a wrong password, a disabled Cognito user and a Cognito user without
    a User row WHEN each logs in THEN each is 401 with `body: []`, one message and one
    server_message, neither saying which case it was (never 403)."""
    replies = _refusal_cases(world)

    for case, reply in replies.items():
        assert reply.status == 401, (case, reply.envelope)
        assert reply.body == [], case
    assert len({r.message for r in replies.values()}) == 1, {c: r.message for c, r in replies.items()}
    assert len({r.server_message for r in replies.values()}) == 1, {
        c: r.server_message for c, r in replies.items()
    }
    shown = (replies["no User row"].message + " " + replies["no User row"].server_message).lower()
    for telltale in ("disabled", "not found", "notfound", "exist", "row", "notauthorized", "unknown"):
        assert telltale not in shown, telltale


def test_a_new_password_challenge_is_not_a_session(world: World) -> None:
    """GIVEN a Cognito user with only a temporary password (FORCE_CHANGE_PASSWORD) and a User row
    WHEN it logs in THEN the NEW_PASSWORD_REQUIRED challenge is refused like any failure (401)."""
    world.directory.idp.admin_create_user(
        UserPoolId=world.directory.pool_id,
        Username=ANNA,
        TemporaryPassword="Temp-pass-2025!",
        UserAttributes=[{"Name": "email", "Value": ANNA}],
        MessageAction="SUPPRESS",
    )
    world.add_user(ANNA, roles=[world.buyer_role])

    reply = login(ANNA, "Temp-pass-2025!")

    assert reply.status == 401, reply.envelope
    assert reply.server_message == login("nobody@example.com", "x").server_message


@pytest.mark.parametrize(
    "body",
    [
        None,
        "",
        "not json",
        "[]",
        "{}",
        json.dumps({"email": ANNA}),
        json.dumps({"password": ANNA_PASSWORD}),
        json.dumps({"email": ANNA, "password": 12345678901}),
        json.dumps({"email": ANNA, "password": ANNA_PASSWORD, "remember": True}),
    ],
    ids=["none", "empty", "not-json", "array", "empty-object", "no-password", "no-email", "number",
         "extra-field"],
)  # fmt: skip
def test_malformed_login_body_is_400_without_calling_cognito(world: World, body: str | None) -> None:
    """GIVEN a login body that is missing, not JSON, or not exactly {email, password} as strings
    WHEN it is sent THEN 400 and Cognito is never asked."""
    world.add_user(ANNA, password=ANNA_PASSWORD)

    reply = invoke("session", login_event(body))

    assert reply.status == 400, reply.envelope
    assert world.directory.calls == []


def test_login_without_a_configured_directory_is_503(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN only DATABASE_URL is set (no COGNITO_APP_CLIENT_ID, no pool)
    WHEN someone logs in THEN 503 saying the user directory is not configured."""
    monkeypatch.delenv("COGNITO_APP_CLIENT_ID", raising=False)
    monkeypatch.delenv("COGNITO_USER_POOL_ID", raising=False)
    reset_layer()

    reply = login(ANNA, ANNA_PASSWORD)

    assert reply.status == 503, reply.envelope
    assert "not configured" in reply.message
    assert "DirectoryNotConfigured" in reply.server_message
    reset_layer()


@pytest.mark.parametrize(
    "failure",
    [client_error("TooManyRequestsException", "InitiateAuth"), client_error("InternalErrorException", "x"),
     network_error()],
    ids=["throttled", "internal-error", "unreachable"],
)  # fmt: skip
def test_login_when_cognito_is_busy_or_unreachable_is_503(world: World, failure: Exception) -> None:
    """GIVEN Cognito throttles, fails inside, or cannot be reached
    WHEN a user logs in THEN 503 (not a 401 that would send the user to retype the password)."""
    world.add_user(ANNA, password=ANNA_PASSWORD)
    world.directory.failures["InitiateAuth"] = failure

    reply = login(ANNA, ANNA_PASSWORD)

    assert reply.status == 503, reply.envelope
    assert "Unavailable" in reply.server_message


# ---- 2. POST /api ------------------------------------------------------------------------------


OWN_KEYS = {"id", "username", "email", "phone", "roles", "profile_picture"}


@pytest.mark.parametrize("body", ["{}", None, "null", json.dumps({"requested_data": None})],
                         ids=["empty-object", "no-body", "null", "null-requested-data"])  # fmt: skip
def test_me_without_requested_data_answers_the_default_shape(world: World, body: str | None) -> None:
    """GIVEN a logged-in Buyer with a profile picture WHEN POST /api is sent with `{}`, no body,
    `null` or `requested_data: null` THEN 200 with its own row in the default shape."""
    user = world.add_user(ANNA, roles=[world.admin_role, world.buyer_role], password=ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))

    reply = me(claims, body=body)

    assert reply.status == 200, reply.envelope
    roles = sorted([world.admin_role, world.buyer_role], key=lambda r: r.id)
    assert reply.body == [
        {
            "id": user.id,
            "username": "anna",
            "email": ANNA,
            "phone": "+46 70 123 45 67",
            "roles": [{"role": r.role, "id": r.id} for r in roles],
            "profile_picture": None,
        }
    ]


def test_me_with_requested_data_answers_the_row_shaped_by_it(world: World) -> None:
    """GIVEN a logged-in Buyer WHEN POST /api asks for [email, {roles: [role]}]
    THEN 200 with exactly those fields of its own row (no other user's row)."""
    world.add_user("other@example.com", roles=[world.buyer_role])
    world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))

    reply = me(claims, body={"requested_data": ["email", {"roles": ["role"]}]})

    assert reply.status == 200, reply.envelope
    assert reply.body == [{"email": ANNA, "roles": [{"role": "Buyer"}]}]


def test_a_role_less_user_may_ask_who_it_is(world: World) -> None:
    """GIVEN a user without roles WHEN it sends POST /api, with and without requested_data
    THEN 200 with its own row (session routes need no role), where a data route is 403."""
    user = world.add_user(ANNA, password=ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))

    default = me(claims, body={})
    shaped = me(claims, body={"requested_data": ["id", "username", {"roles": ["id", "role"]}]})
    data = write("create_items", {"model_name": "Dealer", "object_values": {"dealer_name": "x"}}, claims)

    assert default.status == 200, default.envelope
    assert default.body[0]["id"] == user.id
    assert default.body[0]["roles"] == []
    assert set(default.body[0]) == OWN_KEYS
    assert shaped.status == 200, shaped.envelope
    assert shaped.body == [{"id": user.id, "username": "anna", "roles": []}]
    assert data.status == 403
    assert "role" in data.message.lower()


@pytest.mark.parametrize("roles", ["none", "Buyer"])
@pytest.mark.parametrize(
    ("requested", "name"),
    [(["id", "metafields"], "metafields"), (["cognito_sub"], "cognito_sub"),
     (["tokens_valid_after"], "tokens_valid_after"), ([{"roles": ["id", "key"]}], "key")],
    ids=["metafields", "cognito_sub", "tokens_valid_after", "roles.key"],
)  # fmt: skip
def test_me_refuses_fields_the_caller_may_not_read(
    world: World, roles: str, requested: list[Any], name: str
) -> None:
    """GIVEN a role-less user or a Buyer WHEN POST /api asks for a field outside its own-row view
    and its grants THEN 403 naming the field."""
    world.add_user(ANNA, roles=[world.buyer_role] if roles == "Buyer" else [], password=ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))

    reply = me(claims, body={"requested_data": requested})

    assert reply.status == 403, reply.envelope
    assert reply.body == []
    assert name in reply.message + reply.server_message


@pytest.mark.parametrize("roles", ["none", "Buyer"])
def test_me_names_the_refused_nested_field(world: World, roles: str) -> None:
    """GIVEN a role-less user or a Buyer WHEN POST /api asks for {roles: [id, key]}
    THEN 403 naming `key` (the field no grant covers) at its pointer, not `roles`, which the caller
    may read (it is in the default shape)."""
    world.add_user(ANNA, roles=[world.buyer_role] if roles == "Buyer" else [], password=ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))

    reply = me(claims, body={"requested_data": [{"roles": ["id", "key"]}]})

    assert reply.status == 403, reply.envelope
    assert "'key'" in reply.message, reply.envelope
    assert reply.server_message.endswith("at /requested_data/0/roles/1"), reply.envelope


def test_an_admin_may_read_any_field_of_its_own_row(world: World) -> None:
    """GIVEN an Admin WHEN POST /api asks for metafields and cognito_sub THEN 200 with them."""
    user = world.add_user(ANNA, roles=[world.admin_role], password=ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))

    reply = me(claims, body={"requested_data": ["metafields", "cognito_sub"]})

    assert reply.status == 200, reply.envelope
    assert reply.body == [{"metafields": None, "cognito_sub": user.cognito_sub}]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"requested_data": ["password"]}, 400), ({"requested_data": ["no_such_field"]}, 400),
     ({"requested_data": "email"}, 400), ({"model_name": "Item"}, 400), ("not json", 400)],
    ids=["password", "unknown-field", "not-a-list", "extra-key", "not-json"],
)  # fmt: skip
def test_me_refuses_malformed_requests(world: World, body: Any, status: int) -> None:
    """GIVEN a logged-in user WHEN POST /api carries `password`, an unknown field, a non-list, an
    unknown key or no JSON THEN 400 (password is never readable)."""
    world.add_user(ANNA, roles=[world.admin_role], password=ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))

    reply = me(claims, body=body)

    assert reply.status == status, reply.envelope


def test_me_without_claims_is_401_and_an_unknown_user_is_403(world: World) -> None:
    """GIVEN no authorizer claims, then the valid token of a Cognito user without a User row
    WHEN POST /api is sent THEN 401, then 403."""
    world.directory.add_user(ANNA, ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))

    assert me(None, body={}).status == 401
    unknown = me(claims, body={})
    assert unknown.status == 403, unknown.envelope


def test_a_row_without_sub_and_without_a_flask_password_is_not_found_by_email(world: World) -> None:
    """GIVEN a User row without cognito_sub that holds no Flask-era password, and a Cognito user with
    its e-mail WHEN that user logs in and sends POST /api THEN 403 UnknownUser, and the row keeps no
    subject: only an adopted user's first sign-in is matched by e-mail."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD, linked=False)
    token = login(ANNA, ANNA_PASSWORD).body[0]["token"]
    claims = world.directory.claims(token)
    claims["email_verified"] = "true"  # Cognito's ID tokens carry it; moto's omit it

    reply = me(claims, body={})

    assert reply.status == 403, reply.envelope
    assert "UnknownUser" in reply.server_message
    assert world.row(user.id).cognito_sub is None  # type: ignore[union-attr]


def test_a_deleted_user_s_token_never_binds_to_a_row_created_after_it(world: World) -> None:
    """GIVEN an Admin creates a user with a password, that user logs in (token T), and the Admin
    deletes it WHEN the Admin creates another user with the same e-mail (no password, role Admin)
    and T is sent THEN T is 403 UnknownUser before and after, and the new row stays unlinked."""
    victim = {
        "username": "victim",
        "email": "victim@example.com",
        "phone": "1",
        "password": "Victim-Passw0rd!",
    }
    assert write("create_items", {"model_name": "User", "object_values": victim}).status == 201
    claims = world.directory.claims(login("victim@example.com", "Victim-Passw0rd!").body[0]["token"])
    claims["email_verified"] = "true"

    def read_users() -> Reply:
        body = {"model_name": "User", "requested_data": ["id", "username"]}
        return support.invoke("get_items", load_event("/api/schemes/get_items", body=body, claims=claims))

    assert read_users().status == 200  # a Buyer, the default role
    deleted = {"model_name": "User", "object_values": {"query_filters": {"email": "victim@example.com"},
                                                       "deletion_type": "delete_first"}}  # fmt: skip
    assert write("delete_items", deleted).status == 201
    assert "UnknownUser" in read_users().server_message
    admin = {
        "action": "link",
        "values": {"Role": {"query_filters": {"role": "Admin"}, "link_type": "first_link"}},
    }
    again = {"username": "victim2", "email": "victim@example.com", "phone": "2", "roles": admin}
    assert write("create_items", {"model_name": "User", "object_values": again}).status == 201

    reply = read_users()

    assert reply.status == 403, reply.envelope
    assert "UnknownUser" in reply.server_message
    assert world.row_by_email("victim@example.com").cognito_sub is None  # type: ignore[union-attr]


# ---- 3. logout ---------------------------------------------------------------------------------


def _older(claims: dict[str, str], than: datetime) -> dict[str, str]:
    """The same token's claims, issued a second before `than` (as API Gateway renders them)."""
    issued = int(than.timestamp()) - 1
    older = dict(claims)
    older["auth_time"] = str(issued)
    older["iat"] = datetime.fromtimestamp(issued, tz=UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    return older


def test_logout_signs_out_globally_and_refuses_older_tokens(world: World) -> None:
    """GIVEN a logged-in Buyer WHEN it logs out
    THEN 200 with body [], AdminUserGlobalSignOut was called for its sub in the pool, its
    tokens_valid_after is set, and claims of a token issued before that are 403 on POST /api and on
    a data route, like a rejected token."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    claims = world.directory.claims(login(ANNA, ANNA_PASSWORD).body[0]["token"])
    assert world.row(user.id).tokens_valid_after is None  # type: ignore[union-attr]

    reply = logout(claims)

    assert reply.status == 200, reply.envelope
    assert reply.body == []
    assert world.directory.params("AdminUserGlobalSignOut") == [
        {"UserPoolId": world.directory.pool_id, "Username": user.cognito_sub}
    ]
    valid_after = world.row(user.id).tokens_valid_after  # type: ignore[union-attr]
    assert valid_after is not None and valid_after.utcoffset() is not None
    old = _older(claims, valid_after)
    refused = me(old, body={})
    assert refused.status == 403, refused.envelope
    assert refused.body == []
    get = invoke(
        "get_items",
        load_event("/api/schemes/get_items", body={"model_name": "Item", "requested_data": ["id"]},
                   claims=old),
    )  # fmt: skip
    assert get.status == 403, get.envelope


def test_a_new_login_after_logout_works(world: World) -> None:
    """GIVEN a user that logged out WHEN it logs in again
    THEN 200, and the new token's claims (auth_time not before tokens_valid_after) pass POST /api."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    first = world.directory.claims(login(ANNA, ANNA_PASSWORD).body[0]["token"])
    assert logout(first).status == 200

    again = login(ANNA, ANNA_PASSWORD)

    assert again.status == 200, again.envelope
    claims = world.directory.claims(again.body[0]["token"])
    valid_after = world.row(user.id).tokens_valid_after  # type: ignore[union-attr]
    assert int(claims["auth_time"]) >= int(valid_after.timestamp())  # type: ignore[union-attr]
    reply = me(claims, body={})
    assert reply.status == 200, reply.envelope
    assert reply.body[0]["id"] == user.id


def test_logout_of_a_role_less_user_works(world: World) -> None:
    """GIVEN a user without roles WHEN it logs out THEN 200 (session routes need no role)."""
    world.add_user(ANNA, password=ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))

    assert logout(claims).status == 200


def test_logout_without_claims_is_401_and_of_an_unknown_user_403(world: World) -> None:
    """GIVEN no claims, then a Cognito user without a row WHEN it logs out THEN 401, then 403,
    and Cognito is never asked."""
    world.directory.add_user(ANNA, ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))

    assert logout(None).status == 401
    assert logout(claims).status == 403
    assert "AdminUserGlobalSignOut" not in world.directory.operations()


@pytest.mark.parametrize(
    "failure", [client_error("TooManyRequestsException", "AdminUserGlobalSignOut"), network_error()],
    ids=["throttled", "unreachable"],
)  # fmt: skip
def test_logout_when_cognito_fails_is_503_and_changes_nothing(world: World, failure: Exception) -> None:
    """GIVEN Cognito throttles or cannot be reached WHEN a user logs out
    THEN 503, and tokens_valid_after stays unset (the sign-out did not happen)."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))
    world.directory.failures["AdminUserGlobalSignOut"] = failure

    reply = logout(claims)

    assert reply.status == 503, reply.envelope
    assert world.row(user.id).tokens_valid_after is None  # type: ignore[union-attr]
    assert me(claims, body={}).status == 200


def test_logout_without_a_configured_pool_is_503_and_changes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN COGNITO_USER_POOL_ID is unset WHEN a user logs out
    THEN 503 saying the user directory is not configured, and tokens_valid_after stays unset."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    claims = world.directory.claims(world.directory.id_token(ANNA, ANNA_PASSWORD))
    monkeypatch.delenv("COGNITO_USER_POOL_ID")
    reset_layer()

    reply = logout(claims)

    assert reply.status == 503, reply.envelope
    assert "not configured" in reply.message
    assert "DirectoryNotConfigured" in reply.server_message
    assert world.row(user.id).tokens_valid_after is None  # type: ignore[union-attr]


# ---- 6. through the local gateway --------------------------------------------------------------


@pytest.fixture
def gateway(world: World) -> Gateway:
    """The local gateway on the real template.yaml, trusting the moto pool's tokens."""
    d = world.directory
    return Gateway(TEMPLATE, issuer=d.issuer, jwks_url=d.jwks_url, audience=d.client_id, origins=(ORIGIN,))


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    envelope: dict[str, Any]


def through(gateway: Gateway, path: str, body: Any = None, token: str | None = None) -> Answer:
    headers = [("Origin", ORIGIN), ("Content-Type", "application/json")]
    if token is not None:
        headers.append(("Authorization", token))
    response = gateway.handle("POST", path, headers, json.dumps(body).encode() if body is not None else b"")
    found = {k.lower(): v for k, v in response.headers}
    return Answer(response.status, found, json.loads(response.body))


def assert_rejected(answer: Answer) -> None:
    """The template's UNAUTHORIZED gateway response: 403 in the envelope, with CORS headers."""
    assert answer.status == 403, answer.envelope
    assert answer.envelope["status"] == 403
    assert answer.envelope["body"] == []
    assert answer.envelope["server_message"] == "UNAUTHORIZED"
    assert isinstance(answer.envelope["message"], str) and answer.envelope["message"]
    assert answer.envelope["request_id"] == answer.headers["x-amzn-requestid"]
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert answer.headers["access-control-allow-credentials"] == "true"
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "authorization"} <= allowed


def _tokens(world: World) -> dict[str, str]:
    world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    token = world.directory.id_token(ANNA, ANNA_PASSWORD)
    claims = jwt.decode(token, options={"verify_signature": False})
    expired = {**claims, "iat": claims["iat"] - 7200, "exp": claims["iat"] - 60}
    foreign = {**claims, "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_Foreign01"}
    return {
        "missing": "",
        "garbage": "Bearer garbage",
        "malformed-jwt": "Bearer a.b.c",
        "expired": f"Bearer {moto_signed(expired)}",
        "foreign-issuer": f"Bearer {moto_signed(foreign)}",
    }


@pytest.mark.parametrize("path", ["/api", "/api/logout"])
def test_session_routes_other_than_login_need_a_valid_token(
    world: World, gateway: Gateway, path: str
) -> None:
    """GIVEN the real template's routes WHEN /api or /api/logout is called without a token, with
    garbage, with an expired token or with a token of another issuer (signed with the pool's key)
    THEN each is the UNAUTHORIZED gateway response (403 envelope, CORS headers), the handler never
    runs, and no one was signed out."""
    for case, token in _tokens(world).items():
        answer = through(gateway, path, {}, token or None)
        assert answer.status == 403, (case, answer.envelope)
        assert_rejected(answer)
    assert world.directory.calls == []
    assert world.row_by_email(ANNA).tokens_valid_after is None  # type: ignore[union-attr]


def test_login_is_reachable_without_a_token_and_its_token_opens_the_other_routes(
    world: World, gateway: Gateway
) -> None:
    """GIVEN the real template's routes WHEN /api/login is called without a token (and with a
    garbage Authorization header, which a route without authorizer ignores)
    THEN the handler answers (200 with a token; a wrong password its own 401), and that token
    opens /api and /api/logout."""
    user = world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)

    logged_in = through(gateway, "/api/login", {"email": ANNA, "password": ANNA_PASSWORD})
    with_garbage = through(gateway, "/api/login", {"email": ANNA, "password": ANNA_PASSWORD}, "garbage")
    wrong = through(gateway, "/api/login", {"email": ANNA, "password": "Wrong-pass-2025!"})
    malformed = through(gateway, "/api/login", {"email": ANNA})

    assert logged_in.status == 200, logged_in.envelope
    assert with_garbage.status == 200, with_garbage.envelope
    assert (wrong.status, wrong.envelope["status"], wrong.envelope["body"]) == (401, 401, [])
    assert wrong.envelope["server_message"] != "UNAUTHORIZED"  # the handler's answer, not the gateway's
    assert malformed.status == 400
    assert logged_in.headers["access-control-allow-origin"] == ORIGIN
    token = logged_in.envelope["body"][0]["token"]
    who = through(gateway, "/api", {}, f"Bearer {token}")
    assert who.status == 200, who.envelope
    assert who.envelope["body"][0]["id"] == user.id
    out = through(gateway, "/api/logout", None, token)
    assert out.status == 200, out.envelope
    assert world.row(user.id).tokens_valid_after is not None  # type: ignore[union-attr]


def test_login_over_http_through_the_gateway(world: World, gateway: Gateway) -> None:
    """GIVEN the gateway serving on a free port WHEN a browser-like client posts to /api/login
    without a token and to /api without one THEN 200 with a token, then the 403 envelope."""
    world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    server = make_server(gateway, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        answers = []
        for path, body in (("/api/login", {"email": ANNA, "password": ANNA_PASSWORD}), ("/api", {})):
            conn = http.client.HTTPConnection(host, port, timeout=30)
            try:
                conn.request("POST", path, body=json.dumps(body).encode(),
                             headers={"Origin": ORIGIN, "Content-Type": "application/json"})  # fmt: skip
                response = conn.getresponse()
                headers = {k.lower(): v for k, v in response.getheaders()}
                answers.append(Answer(response.status, headers, json.loads(response.read())))
            finally:
                conn.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

    logged_in, anonymous = answers
    assert logged_in.status == 200, logged_in.envelope
    assert world.directory.claims(logged_in.envelope["body"][0]["token"])["email"] == ANNA
    assert_rejected(anonymous)
