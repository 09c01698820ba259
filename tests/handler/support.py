"""Building API Gateway events, invoking handlers and checking the envelope, for the handler tests.

Every event starts from one base REST (v1 proxy) event, `events/rest_event.json`: the shape
`sam local generate-event apigateway aws-proxy` produces, with the Cognito authorizer's claims of
the handler conftest's Admin caller. `event()` sets what a test varies (path, method, body, claims,
Origin and other headers) and gives every event a fresh request id. Request bodies a test sends as
they are live in `bodies/<name>.json` (`body()` reads one).

`invoke()` calls `functions/<function>/app.py` as Lambda would and checks the envelope every
response of every route has (`check_envelope`, also used for the gateway's own responses); it
answers a `Reply`.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.support.lambda_context import FakeLambdaContext

HERE = Path(__file__).parent
EVENTS = HERE / "events"
BODIES = HERE / "bodies"

ORIGIN = "http://localhost:5173"
ENVELOPE_KEYS = frozenset({"status", "message", "body", "server_message"})
EXTRA_KEYS = frozenset({"request_id", "next_cursor", "count"})
KEEP: Any = object()  # "leave the base event's value" for `event()`'s keyword arguments


# The caller of the base event `events/rest_event.json` (requestContext.authorizer.claims).
CALLER_SUB = "0b6c2f5e-1d7a-4c11-9d35-3f1e2a7b9c01"
CALLER_EMAIL = "handler-tests@example.com"


class Db:
    """Commits ORM rows to the test's own database; the handler then reads them (the `db` fixture)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, *rows: Any) -> list[Any]:
        """Insert and commit `rows`; return them with their ids loaded (usable after the session)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.add_all(rows)
        return list(rows)


# ---- events --------------------------------------------------------------------------------------


@cache
def _base() -> dict[str, Any]:
    return json.loads((EVENTS / "rest_event.json").read_text(encoding="utf-8"))


def base_claims() -> dict[str, str]:
    """The base event's claims (the handler conftest's Admin caller), as API Gateway passes them."""
    return dict(_base()["requestContext"]["authorizer"]["claims"])


def claims_for(sub: str, email: str) -> dict[str, str]:
    """The base event's claims for another caller (`sub`, `cognito:username` and `email`)."""
    return {**base_claims(), "sub": sub, "cognito:username": sub, "email": email}


@cache
def _body_file(name: str) -> str:
    return (BODIES / f"{name}.json").read_text(encoding="utf-8")


def body(name: str) -> Any:
    """The request body `bodies/<name>.json`, parsed (a fresh copy each call)."""
    return json.loads(_body_file(name))


def encode(value: Any) -> str | None:
    """An event body: a str as is, None for no body, anything else JSON-encoded (UTF-8, as sent)."""
    return value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def set_header(event: dict[str, Any], name: str, value: str | None) -> None:
    """Set (or, with None, remove) a request header in both header maps."""
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop(name, None)
    if value is not None:
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]


def event(
    path: str = "/api/schemes/get_items",
    body: Any = None,
    *,
    method: str = "POST",
    claims: Any = KEEP,
    origin: Any = KEEP,
    headers: dict[str, str | None] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The base event for `method path` with a fresh request id.

    `body`: see `encode`. `claims`: None removes the authorizer, a dict replaces the claims.
    `origin` and `headers`: None removes a header, a str sets it. Other keyword arguments replace
    top-level keys of the event (e.g. `isBase64Encoded`).
    """
    built = copy.deepcopy(_base())
    context = built["requestContext"]
    context["requestId"] = str(uuid4())
    built["httpMethod"] = context["httpMethod"] = method
    built["path"] = built["resource"] = context["resourcePath"] = path
    context["path"] = f"/{context['stage']}{path}"
    built["body"] = encode(body)
    if claims is None:
        del context["authorizer"]
    elif claims is not KEEP:
        context["authorizer"] = {"claims": dict(claims)}
    if origin is not KEEP:
        set_header(built, "Origin", origin)
    for name, value in (headers or {}).items():
        set_header(built, name, value)
    built.update(overrides)
    return built


# ---- invoking ------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    envelope: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    request: Any = field(default=None, repr=False)

    @property
    def body(self) -> list[Any]:
        return self.envelope["body"]

    @property
    def message(self) -> str:
        return self.envelope["message"]

    @property
    def server_message(self) -> str:
        return self.envelope["server_message"]

    @property
    def ids(self) -> list[int]:
        return [row["id"] for row in self.body]


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    """A response's headers (both maps merged), names lower-cased."""
    merged = {k.lower(): v[-1] for k, v in (response.get("multiValueHeaders") or {}).items() if v}
    merged.update({k.lower(): v for k, v in (response.get("headers") or {}).items()})
    return merged


def check_envelope(envelope: Any, status: int, extras: Collection[str] = EXTRA_KEYS) -> None:
    """The envelope every response has: exactly the four keys (plus allowed `extras`), the status,
    a readable message, a list body; an error has an empty body (but a 409 RowChanged, whose body
    is the row as it is now: one row) and says what went wrong in `server_message`, a success
    leaves it empty."""
    assert isinstance(envelope, dict), envelope
    assert ENVELOPE_KEYS <= set(envelope) <= ENVELOPE_KEYS | set(extras), sorted(envelope)
    assert envelope["status"] == status, envelope
    assert isinstance(envelope["message"], str) and envelope["message"].strip(), envelope
    assert isinstance(envelope["body"], list), envelope
    assert isinstance(envelope["server_message"], str), envelope
    if status == 409 and envelope["server_message"].startswith("RowChanged "):
        assert len(envelope["body"]) == 1 and isinstance(envelope["body"][0], dict), envelope
    elif status >= 400:
        assert envelope["body"] == [], envelope
    if status >= 400:
        assert envelope["server_message"], "the machine-oriented detail is never empty on errors"
    else:
        assert envelope["server_message"] == "", envelope


@cache
def handler(function: str) -> Callable[..., Any]:
    """`lambda_handler` of `functions/<function>/app.py`."""
    return importlib.import_module(f"functions.{function}.app").lambda_handler


def raw_invoke(function: str, sent: dict[str, Any]) -> dict[str, Any]:
    """Invoke a handler as Lambda would; its response as is."""
    response = handler(function)(sent, FakeLambdaContext())
    assert isinstance(response, dict)
    return response


def invoke(function: str, sent: dict[str, Any], *, extras: Collection[str] = EXTRA_KEYS) -> Reply:
    """Invoke `functions/<function>/app.py` with the event `sent` and check what every response
    has: a JSON envelope (`check_envelope`) whose status is the statusCode and whose request_id is
    the event's, also in X-Request-Id."""
    response = raw_invoke(function, sent)
    headers = headers_of(response)
    assert headers.get("content-type", "").startswith("application/json"), headers
    envelope = json.loads(response["body"])
    check_envelope(envelope, response["statusCode"], extras)
    assert envelope["request_id"] == sent["requestContext"]["requestId"]
    assert headers.get("x-request-id") == envelope["request_id"]
    return Reply(response["statusCode"], envelope, headers)


def without_aws(monkeypatch: Any) -> Iterator[None]:
    """No user pool or bucket, whatever the machine's environment says; a region as Lambda has one.
    For an autouse fixture: `pytest.fixture(autouse=True, name=...)(support.without_aws)`."""
    from dataapi.identity import cognito

    for name in ("COGNITO_USER_POOL_ID", "COGNITO_APP_CLIENT_ID", "FILES_BUCKET", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-north-1")
    cognito.client.cache_clear()
    yield
    cognito.client.cache_clear()


def offline_aws(monkeypatch: Any, bucket: str, region: str, *unset: str) -> None:
    """Dummy credentials from the environment only (no profile, no instance metadata) and no
    endpoint, so boto3 reaches moto's in-process mock with AWS's URL forms; FILES_BUCKET names
    `bucket`. `unset`: more variables to remove."""
    for name, value in {
        "FILES_BUCKET": bucket,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", *unset):
        monkeypatch.delenv(name, raising=False)
