"""Invoking every route in-process, as Lambda would, with the envelope checked on every answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from tests.handler import support
from tests.handler.support import Reply
from tests.support.callers import Who, claims_of

LEAKS = ("pg8000", "select ", "postgresql", "traceback", "sqlalchemy", "botocore")

# route -> (function, path)
ROUTES: dict[str, tuple[str, str]] = {
    "get_items": ("get_items", "/api/schemes/get_items"),
    "create_items": ("create_items", "/api/schemes/create_items"),
    "update_items": ("update_items", "/api/schemes/update_items"),
    "delete_items": ("delete_items", "/api/schemes/delete_items"),
    "me": ("session", "/api"),
    "login": ("session", "/api/login"),
    "logout": ("session", "/api/logout"),
    "presign": ("files", "/api/generate-presigned-url"),
    "delete_files": ("files", "/api/delete-image-url"),
}


ADMIN = Who("admin", 1, "admin@example.com", "seed-sub-admin")
ANNA = Who("anna", 2, "anna@beyo.se", "adv-sub-anna")


def event_for(route: str, body: Any, claims: dict[str, str] | None, *, raw: bool = False) -> dict[str, Any]:
    """The route's event; `raw`: `body` is the request text as sent (JSON text otherwise, ASCII-escaped)."""
    return support.event(ROUTES[route][1], body if raw else json.dumps(body), claims=claims)


def invoke(route: str, event: dict[str, Any]) -> Reply:
    """The handler's answer, checked as every answer is (tests/handler/support.py), and no internals leaked."""
    reply = support.invoke(ROUTES[route][0], event)
    if reply.status >= 400:
        shown = (reply.message + " " + reply.server_message).lower()
        assert not any(leak in shown for leak in LEAKS), reply.envelope
    return reply


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
