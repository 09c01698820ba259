"""The status of a policy refusal is a setting; ended sessions stay 403.

The React client reads every 403 as "session expired" and logs the user out, and it shows every
screen to every role: a Buyer who saves on Manage Users must see a refusal, not the login page.
POLICY_REFUSAL_STATUS (template parameter PolicyRefusalStatus; 400 in the shipped stages and in
`make dev`) sets the status of errors.PolicyRefusal; unknown users and signed-out tokens stay 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from dataapi.models import Role, User
from dataapi.settings import get_settings
from tests.handler.files_support import Person, invoke, load_event
from tests.handler.support import Db, Reply

BO = Person("sub-bo", "bo@example.com")
CIA = Person("sub-cia", "cia@example.com")
NILS = Person("sub-nils", "nils@example.com")
NOBODY = Person("sub-nobody", "nobody@example.com")


@pytest.fixture(params=[None, "400", "422"], ids=["default", "400", "422"])
def refusal_status(request: pytest.FixtureRequest, db: Db, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Two Buyers and a user without roles; POLICY_REFUSAL_STATUS unset, 400 or 422."""
    if request.param is None:
        monkeypatch.delenv("POLICY_REFUSAL_STATUS", raising=False)
    else:
        monkeypatch.setenv("POLICY_REFUSAL_STATUS", request.param)
    get_settings.cache_clear()
    buyer = Role(role="Buyer", key="buyer")
    db.add(
        User(username="bo", email=BO.email, phone="1", cognito_sub=BO.sub, roles=[buyer]),
        User(username="cia", email=CIA.email, phone="2", cognito_sub=CIA.sub, roles=[buyer]),
        User(username="nils", email=NILS.email, phone="3", cognito_sub=NILS.sub),
    )
    yield int(request.param or 403)
    get_settings.cache_clear()


def call(function: str, body: Any, caller: Person) -> Reply:
    event = load_event("files_update_items", body=body, caller=caller)
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = f"/api/schemes/{function}"
    return invoke(event, function)


def save_user(email: str, values: dict[str, Any], caller: Person) -> Reply:
    """Manage Users' save: update the row with that email."""
    body = {"model_name": "User", "object_values": values, "query_filters": {"email": email},
            "update_type": "first_match"}  # fmt: skip
    return call("update_items", body, caller)


UNLINK_ALL = {"action": "unlink", "values": {"unlink_type": "unlink_all"}}
ROLE_RENAME = {"model_name": "Role", "object_values": {"role": "Boss"}, "query_filters": {"role": "Buyer"},
               "update_type": "first_match"}  # fmt: skip
ROLE_KEYS = {"model_name": "Role", "requested_data": ["id", "key"], "query_filters": {}}
ITEM_IDS = {"model_name": "Item", "requested_data": ["id"], "query_filters": {}}
REFUSALS = {
    "another user's row": lambda: save_user(CIA.email, {"username": "cia2"}, BO),
    "a field not granted": lambda: call("get_items", ROLE_KEYS, BO),
    "an operation not granted": lambda: call("update_items", ROLE_RENAME, BO),
    "roles of one's own account": lambda: save_user(BO.email, {"roles": UNLINK_ALL}, BO),
    "no role assigned": lambda: call("get_items", ITEM_IDS, NILS),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_policy_refusal_answers_the_configured_status(refusal_status: int, case: str, db: Db) -> None:
    """GIVEN POLICY_REFUSAL_STATUS unset, 400 or 422 WHEN a signed-in user asks for something the
    policy refuses THEN that status (403 by default) in the envelope, server_message naming
    PolicyRefusal, and nothing changed."""
    before = _users(db)

    reply = REFUSALS[case]()

    assert reply.status == refusal_status, reply.envelope
    assert reply.server_message.startswith("PolicyRefusal"), reply.envelope
    assert _users(db) == before


def test_ended_sessions_stay_403(refusal_status: int, db: Db) -> None:
    """GIVEN any POLICY_REFUSAL_STATUS WHEN an unknown user calls, or a user whose tokens were
    signed out THEN 403 (the client logs out), not the policy refusal status."""
    unknown = save_user(CIA.email, {"username": "x"}, NOBODY)
    with db.engine.begin() as conn:
        conn.execute(
            text('UPDATE "User" SET tokens_valid_after = :t WHERE email = :e'),
            {"t": datetime.now(UTC) + timedelta(minutes=1), "e": BO.email},
        )
    signed_out = save_user(BO.email, {"username": "bo2"}, BO)

    assert (unknown.status, signed_out.status) == (403, 403), (unknown.envelope, signed_out.envelope)
    assert "UnknownUser" in unknown.server_message
    assert "TokenSignedOut" in signed_out.server_message


def _users(db: Db) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text('SELECT id, username, email FROM "User" ORDER BY id'))]
