"""Events and calls of the get_items handler tests (test_get_items_*.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.handler import support
from tests.handler.support import KEEP, Reply

GET_ITEMS = "/api/schemes/get_items"
LEAKS = ("pg8000", "select", "postgresql", "traceback", "sqlalchemy")
BAD_JSON = '{"model_name": "Item", "requested_data": ["id", "article_number"'
PREFLIGHT_HEADERS: dict[str, str | None] = {
    "Accept": "*/*",
    "Access-Control-Request-Headers": "authorization,content-type",
    "Access-Control-Request-Method": "POST",
    "Authorization": None,
    "Content-Type": None,
}


# ---- events ----------------------------------------------------------------------------------


def load_event(name: str, *, body: Any = KEEP, **changes: Any) -> dict[str, Any]:
    """A get_items event sending `bodies/<name>.json` (or `body`); `changes` as `support.event`
    takes them (origin, claims, headers, top-level keys)."""
    return support.event(GET_ITEMS, support.body(name) if body is KEEP else body, **changes)


def preflight_event(origin: str) -> dict[str, Any]:
    """The browser's CORS preflight for get_items: OPTIONS, no authorizer, no body."""
    return support.event(GET_ITEMS, method="OPTIONS", claims=None, origin=origin, headers=PREFLIGHT_HEADERS)


def request_of(name: str, **changes: Any) -> dict[str, Any]:
    """The request body `bodies/<name>.json`, with top-level keys replaced (None-valued kept)."""
    request = support.body(name)
    request.update(changes)
    return request


# ---- invoking --------------------------------------------------------------------------------


def raw_invoke(event: dict[str, Any]) -> dict[str, Any]:
    return support.raw_invoke("get_items", event)


def invoke(event: dict[str, Any]) -> Reply:
    """Invoke the handler and check the envelope every response of every route must have."""
    return support.invoke("get_items", event)


def get(request: dict[str, Any], name: str = "get_items_item_list") -> Reply:
    return invoke(load_event(name, body=request))


def ok(request: dict[str, Any]) -> Reply:
    reply = get(request)
    assert reply.status == 200, reply.envelope
    assert reply.envelope["server_message"] == ""
    return reply


def items(requested: list[Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A get_items request on Item (no per_page: all rows of a small table)."""
    request: dict[str, Any] = {"model_name": "Item", "requested_data": requested or ["id"]}
    request.update(changes)
    return request


def refused(request: dict[str, Any], status: int = 400) -> Reply:
    reply = get(request)
    assert reply.status == status, reply.envelope
    assert reply.body == []
    assert reply.envelope["server_message"], "the machine-oriented detail is never empty on errors"
    return reply


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
