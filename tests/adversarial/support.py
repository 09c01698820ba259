"""Invoking every route in-process, as Lambda would, with the envelope checked on every answer."""

from __future__ import annotations

import copy
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import Engine, text

from tests.handler.conftest import FakeLambdaContext

EVENTS = Path(__file__).parent.parent / "handler" / "events"
ENVELOPE_KEYS = {"status", "message", "body", "server_message"}
EXTRA_KEYS = {"request_id", "next_cursor", "count"}
LEAKS = ("pg8000", "select ", "postgresql", "traceback", "sqlalchemy", "botocore")

# route -> (function, event file whose path, headers and claims are used)
ROUTES: dict[str, tuple[str, str]] = {
    "get_items": ("get_items", "policy_get_items"),
    "create_items": ("create_items", "policy_create_items"),
    "update_items": ("update_items", "policy_update_items"),
    "delete_items": ("delete_items", "policy_delete_items"),
    "me": ("session", "session_me"),
    "login": ("session", "session_login"),
    "logout": ("session", "session_logout"),
    "presign": ("files", "files_presign"),
    "delete_files": ("files", "files_delete_image_url"),
}
_TEMPLATES: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class Who:
    name: str
    id: int
    email: str
    sub: str


ADMIN = Who("admin", 1, "admin@example.com", "seed-sub-admin")
ANNA = Who("anna", 2, "anna@beyo.se", "adv-sub-anna")


def claims_of(who: Who, **changes: str) -> dict[str, str]:
    claims = {
        "sub": who.sub,
        "email": who.email,
        "email_verified": "true",
        "cognito:username": who.sub,
        "token_use": "id",
        "auth_time": "1764939900",
        "iat": "Fri Dec 05 13:45:00 UTC 2025",
    }
    claims.update(changes)
    return claims


def handler(route: str) -> Any:
    return importlib.import_module(f"functions.{ROUTES[route][0]}.app").lambda_handler


def event_for(route: str, body: Any, claims: dict[str, str] | None, *, raw: bool = False) -> dict[str, Any]:
    name = ROUTES[route][1]
    if name not in _TEMPLATES:
        _TEMPLATES[name] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    event = copy.deepcopy(_TEMPLATES[name])
    event["requestContext"]["requestId"] = str(uuid4())
    event["requestContext"]["authorizer"] = {"claims": claims} if claims is not None else {}
    event["body"] = body if raw else json.dumps(body)
    event["isBase64Encoded"] = False
    return event


@dataclass
class Reply:
    status: int
    envelope: dict[str, Any]

    @property
    def body(self) -> list[Any]:
        return self.envelope["body"]

    @property
    def server_message(self) -> str:
        return self.envelope["server_message"]

    @property
    def message(self) -> str:
        return self.envelope["message"]


def invoke(route: str, event: dict[str, Any]) -> Reply:
    """The handler's answer, checked: the envelope, status = statusCode, no internals leaked."""
    response = handler(route)(event, FakeLambdaContext())
    assert isinstance(response, dict)
    envelope = json.loads(response["body"])
    assert isinstance(envelope, dict)
    assert response["statusCode"] == envelope["status"]
    assert ENVELOPE_KEYS <= set(envelope) <= ENVELOPE_KEYS | EXTRA_KEYS, sorted(envelope)
    assert isinstance(envelope["message"], str) and envelope["message"].strip()
    assert isinstance(envelope["body"], list)
    assert envelope["request_id"] == event["requestContext"]["requestId"]
    if envelope["status"] >= 400:
        assert envelope["body"] == [] and envelope["server_message"], envelope
        shown = (envelope["message"] + " " + envelope["server_message"]).lower()
        assert not any(leak in shown for leak in LEAKS), envelope
    return Reply(response["statusCode"], envelope)


def call(route: str, body: Any, who: Who = ADMIN, *, raw: bool = False, **claims: str) -> Reply:
    return invoke(route, event_for(route, body, claims_of(who, **claims), raw=raw))


def refused(route: str, body: Any, status: int = 400, who: Who = ADMIN, *, raw: bool = False) -> Reply:
    reply = call(route, body, who, raw=raw)
    assert reply.status == status, reply.envelope
    return reply


def read_ids(model: str = "Item", filters: dict[str, Any] | None = None) -> list[int]:
    """A plain read through the handler, which must succeed: the 'next request' of every test."""
    body = {"model_name": model, "requested_data": ["id"], "query_filters": filters or {}}
    reply = call("get_items", body)
    assert reply.status == 200, reply.envelope
    return [row["id"] for row in reply.body]


ALL_ITEMS = list(range(12, 0, -1))


@dataclass
class World:
    engine: Engine

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    def snapshot(self) -> dict[str, list[str]]:
        tables = ("User", "Role", "user_roles", "Item", "Item_Note", "Items_Notes", "Item_History", "Dealer")
        with self.engine.connect() as conn:
            return {
                t: list(conn.execute(text(f'SELECT row_to_json(t)::text FROM "{t}" t ORDER BY 1')).scalars())
                for t in tables
            }
