"""POST /api/schemes/get_items through `lambda_handler`, in-process, on real committed data: errors, CORS, and nothing internal leaks.

Every test builds an API Gateway REST (v1 proxy) event from the base event (`support.event`, the
shape `sam local generate-event apigateway aws-proxy` produces, with the Cognito authorizer's
claims) and a request body (often a file in `bodies/`), invokes the handler as Lambda would
(get_items_support.py), and checks the response against docs/contract.md §2 (the envelope and the
error rules) and §3 (the read grammar). Every response body is checked by `support.invoke`.
"""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import pytest
from sqlalchemy import Text, func, insert, select

from dataapi.db import engine as dbmod
from dataapi.models import Item
from dataapi.settings import get_settings
from tests.handler import support
from tests.handler.get_items_support import (
    BAD_JSON,
    LEAKS,
    get,
    invoke,
    items,
    load_event,
    preflight_event,
    raw_invoke,
    refused,
)
from tests.handler.support import Db, headers_of

# ---- errors ------------------------------------------------------------------------------------


BAD_REQUESTS = {
    "unknown model": (
        {"model_name": "Nope", "requested_data": ["id"]},
        "/model_name",
        ["Nope"],
    ),
    "model name not a string": (
        {"model_name": 7, "requested_data": ["id"]},
        "/model_name",
        ["model_name"],
    ),
    "unknown requested field": (
        items(["id", "colour"]),
        "/requested_data/1",
        ["colour", "Item"],
    ),
    "unknown nested requested field": (
        items(["id", {"dealer": ["id", "shoe_size"]}]),
        "/requested_data/1/dealer/1",
        ["shoe_size", "Dealer"],
    ),
    "unknown dotted requested field": (
        items(["notes.subject.colour"]),
        "/requested_data/0",
        ["colour", "Item_Notes_Subject"],
    ),
    "relationship requested as a column": (
        items(["id", "dealer"]),
        "/requested_data/1",
        ["dealer"],
    ),
    "unknown filter field": (
        items(query_filters={"colour": "red"}),
        "/query_filters/colour",
        ["colour"],
    ),
    "unknown or- filter field": (
        items(query_filters={"or-colour": "red", "or-state": "Sold"}),
        "/query_filters/or-colour",
        ["colour"],
    ),
    "unknown dotted filter field": (
        items(query_filters={"dealer.shoe_size": 42}),
        "/query_filters/dealer.shoe_size",
        ["shoe_size"],
    ),
    "bad operator": (
        items(query_filters={"state": {"operation": "~~", "value": "x"}}),
        "/query_filters/state/operation",
        ["~~"],
    ),
    "operator not for the type": (
        items(query_filters={"purchased_price": {"operation": "ilike", "value": "%5%"}}),
        "/query_filters/purchased_price",
        ["ilike", "purchased_price"],
    ),
    "wrong value type": (
        items(query_filters={"purchased_price": "abc"}),
        "/query_filters/purchased_price",
        ["purchased_price"],
    ),
    "wrong value type in an operation": (
        items(query_filters={"purchased_price": {"operation": ">=", "value": "abc"}}),
        "/query_filters/purchased_price/value",
        ["purchased_price"],
    ),
    "wrong value type in a list": (
        items(query_filters={"id": {"operation": "in", "value": [1, "two"]}}),
        "/query_filters/id/value/1",
        ["id"],
    ),
    "wrong timestamp": (
        items(query_filters={"created_at": {"operation": ">", "value": "yesterday"}}),
        "/query_filters/created_at/value",
        ["created_at"],
    ),
    "malformed condition": (
        items(query_filters={"state": {"op": "==", "value": "Sold"}}),
        "/query_filters/state",
        ["state"],
    ),
    "missing model_name": (
        {"requested_data": ["id"]},
        "/model_name",
        ["model_name"],
    ),
    "missing requested_data": (
        {"model_name": "Item"},
        "/requested_data",
        ["requested_data"],
    ),
    "unknown top-level key": (
        items(colour="red"),
        "/colour",
        ["colour"],
    ),
    "per_page not a number": (
        items(per_page="many"),
        "/per_page",
        ["per_page"],
    ),
    "query_filters not an object": (
        items(query_filters=["state"]),
        "/query_filters",
        ["query_filters"],
    ),
    "order_by unknown field": (
        items(order_by=["colour"]),
        "/order_by/0",
        ["colour"],
    ),
    "order_by through a to-many": (
        items(order_by=["notes.id"]),
        "/order_by/0",
        ["notes.id"],
    ),
    "body is an array": (
        [items()],
        "/",
        [],
    ),
}


@pytest.mark.parametrize(("request_body", "pointer", "named"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_are_400_with_a_json_pointer(
    db: Db, request_body: Any, pointer: str, named: list[str]
) -> None:
    """GIVEN a request the grammar refuses WHEN it is sent THEN 400 in the envelope, the
    server_message holding the JSON pointer and the message naming what is wrong."""
    reply = refused(request_body)

    assert f"at {pointer}" in reply.envelope["server_message"], reply.envelope
    for name in named:
        assert name in reply.envelope["message"], reply.envelope


@pytest.mark.parametrize(
    "body",
    [None, "", "   ", "{", "null", "[1,", "model_name=Item"],
    ids=["none", "empty", "blank", "brace", "null", "truncated-array", "form-encoded"],
)
def test_malformed_bodies_are_400(db: Db, body: str | None) -> None:
    """GIVEN a body that is missing, not JSON, or not an object WHEN it is sent THEN 400 in the envelope."""
    reply = invoke(load_event("get_items_item_list", body=body))

    assert reply.status == 400
    assert reply.body == []
    assert reply.envelope["server_message"].startswith("MalformedRequest")


def test_bad_json_event_is_400(db: Db) -> None:
    """GIVEN the bad JSON event WHEN it is sent THEN 400 MalformedRequest at the document root."""
    reply = invoke(load_event("get_items_item_list", body=BAD_JSON))

    assert reply.status == 400
    assert reply.envelope["server_message"] == "MalformedRequest InvalidJSON at /"
    assert "JSON" in reply.envelope["message"]


def test_base64_encoded_body_is_decoded(db: Db) -> None:
    """GIVEN API Gateway passes the body base64-encoded WHEN the handler reads it THEN it is decoded."""
    (item,) = db.add(Item(article_number="b64"))
    raw = json.dumps(items(["id", "article_number"])).encode()
    event = load_event("get_items_item_list", body=base64.b64encode(raw).decode(), isBase64Encoded=True)

    reply = invoke(event)

    assert reply.status == 200
    assert reply.body == [{"id": item.id, "article_number": "b64"}]


def test_no_claims_is_401_in_the_envelope(db: Db) -> None:
    """GIVEN the event without an authorizer WHEN it reaches the handler THEN 401 in the envelope."""
    db.add(Item())

    reply = invoke(load_event("get_items_item_list", claims=None))

    assert reply.status == 401
    assert reply.body == []
    assert reply.envelope["server_message"]


def test_empty_claims_is_401(db: Db) -> None:
    """GIVEN an authorizer block with empty claims WHEN it reaches the handler THEN 401."""
    event = load_event("get_items_item_list")
    event["requestContext"]["authorizer"] = {"claims": {}}

    assert invoke(event).status == 401


def test_unknown_route_is_404_in_the_envelope(db: Db) -> None:
    """GIVEN a path this function does not serve WHEN it is invoked THEN 404 in the envelope."""
    event = support.event("/api/schemes/get_itemz", support.body("get_items_item_list"))

    reply = invoke(event)

    assert reply.status == 404
    assert reply.body == []


def test_unexpected_error_is_500_with_a_generic_message(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN the engine fails with an exception nobody expected (carrying SQL-like text)
    WHEN a request is served THEN 500 in the envelope with a generic message and no detail."""
    import dataapi.reads

    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError('SELECT secret FROM "User" -- pg8000 postgresql://u:pw@db/x')

    monkeypatch.setattr(dataapi.reads, "fetch", explode)

    reply = get(items())

    assert reply.status == 500
    assert reply.body == []
    shown = (reply.envelope["message"] + " " + reply.envelope["server_message"]).lower()
    for leak in (*LEAKS, "secret", "pw@"):
        assert leak not in shown, leak


# ---- CORS --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["http://localhost:5173", "https://localhost:5173", "http://127.0.0.1:4173"]
)
def test_preflight_from_an_allowed_origin_echoes_it_with_credentials(origin: str) -> None:
    """GIVEN the preflight event (no authorizer) from an allowed origin
    WHEN it is invoked THEN 204/200 with that exact origin, credentials, POST and the two headers."""
    response = raw_invoke(preflight_event(origin))
    headers = headers_of(response)

    assert response["statusCode"] in (200, 204)
    assert headers["access-control-allow-origin"] == origin
    assert headers["access-control-allow-credentials"] == "true"
    assert "POST" in headers["access-control-allow-methods"].split(",")
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "authorization"} <= allowed


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:5174", "null"])
def test_preflight_from_another_origin_is_not_echoed(origin: str) -> None:
    """GIVEN a preflight from an origin that is not allowed WHEN it is invoked
    THEN no Access-Control-Allow-Origin names it (and never `*`)."""
    response = raw_invoke(preflight_event(origin))
    headers = headers_of(response)

    assert headers.get("access-control-allow-origin") not in (origin, "*")


def test_post_from_another_origin_is_not_echoed(db: Db) -> None:
    """GIVEN a POST from a disallowed origin WHEN it is served THEN the origin is not echoed."""
    reply = invoke(load_event("get_items_item_list", origin="https://evil.example"))

    assert reply.status == 200
    assert reply.headers.get("access-control-allow-origin") not in ("https://evil.example", "*")


# ---- nothing internal leaks --------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_unreachable_is_503_without_internals(api_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN DATABASE_URL points at a closed port
    WHEN a valid request arrives THEN 503 in the envelope, naming no driver, SQL, dialect or URL."""
    port = _closed_port()
    url = f"postgresql+pg8000://postgres:s3cret-pw@127.0.0.1:{port}/dataapi"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    dbmod.dispose_engine()

    event = load_event("get_items_item_list")
    reply = invoke(event)

    assert reply.status == 503
    assert reply.body == []
    shown = (reply.envelope["message"] + " " + reply.envelope["server_message"]).lower()
    for leak in (*LEAKS, url.lower(), "127.0.0.1", str(port), "s3cret"):
        assert leak not in shown, leak
    text = raw_invoke(load_event("get_items_item_list"))["body"].lower()
    for leak in (*LEAKS, "127.0.0.1", "s3cret"):
        assert leak not in text, leak


def test_statement_timeout_is_503(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN 50,000 items with long article numbers and STATEMENT_TIMEOUT_MS=1
    WHEN a request must scan all of them (an ilike no index serves, matching nothing, with a count)
    THEN the statement is cancelled and the answer is 503 without internals."""
    numbers = select(func.generate_series(1, 50_000).label("n")).subquery()
    with db.engine.begin() as conn:
        conn.execute(
            insert(Item).from_select(
                ["article_number"], select(func.repeat("x", 100).op("||")(numbers.c.n.cast(Text)))
            )
        )
    monkeypatch.setenv("STATEMENT_TIMEOUT_MS", "1")
    get_settings.cache_clear()

    request = items(
        ["id"], query_filters={"article_number": {"operation": "ilike", "value": "%zzz%"}}, count=True
    )
    reply = get(request)

    assert reply.status == 503, reply.envelope
    assert reply.body == []
    assert "StatementTimeout" in reply.envelope["server_message"]
    shown = (reply.envelope["message"] + " " + reply.envelope["server_message"]).lower()
    for leak in (*LEAKS, "statement_timeout", "57014", "canceling"):
        assert leak not in shown, leak


# ---- strict types, pointers, integer ranges ----------------------------------------------------


@pytest.mark.parametrize("field", ["per_page", "cursor"])
def test_boolean_per_page_or_cursor_is_a_wrong_type(db: Db, field: str) -> None:
    """GIVEN items WHEN per_page or cursor is `true` THEN 400 naming the field (not 1)."""
    db.add(Item(), Item())

    reply = refused(items(**{field: True}))

    assert f"/{field}" in reply.envelope["server_message"]


@pytest.mark.parametrize(
    ("request_body", "pointer", "field"),
    [(items(cursor=[1]), "/cursor", "cursor"), (items(["id", 5]), "/requested_data/1", "requested_data")],
    ids=["cursor", "requested_data"],
)
def test_union_field_errors_point_at_the_field(db: Db, request_body: Any, pointer: str, field: str) -> None:
    """GIVEN a value of the wrong type in `cursor` or in a `requested_data` entry
    WHEN it is refused THEN the pointer ends at the request part (no `/int` or `/str`)
    and the message names the field."""
    reply = refused(request_body)

    assert reply.envelope["server_message"].endswith(f"at {pointer}"), reply.envelope
    assert field in reply.envelope["message"], reply.envelope


def test_integer_out_of_column_range_is_refused_naming_the_key(db: Db) -> None:
    """GIVEN purchased_price is a 32-bit integer column
    WHEN filtering it with 2**40 THEN 400 naming purchased_price with its JSON pointer."""
    db.add(Item(purchased_price=1))

    reply = refused(items(query_filters={"purchased_price": 2**40}))

    assert "purchased_price" in reply.envelope["message"]
    assert "at /query_filters/purchased_price" in reply.envelope["server_message"]
