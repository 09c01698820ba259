"""devtools.gateway answers like API Gateway in front of the functions of template.yaml.

The gateway reads a copy of the real template whose functions are replaced by tiny handlers in
tmp_path, so it shapes its rejections with the real gateway responses without needing a database.
Tokens are real RS256 ID tokens from moto's Cognito (see tests/unit/test_tokens.py).
"""

from __future__ import annotations

import http.client
import json
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml

from devtools.gateway import MAX_REQUEST_BYTES, Gateway, Response, make_server
from devtools.template import TEMPLATE, load_template
from tests.handler import support
from tests.support.cognito import CognitoTokens, make_cognito_tokens, moto_signed, serve_moto_jwks

ORIGIN = "http://localhost:5173"
ORIGINS = (ORIGIN, "http://127.0.0.1:4173")

ECHO = """
import json
from helper import VALUE  # a sibling module, as functions may have


def lambda_handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Handler": "echo"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": json.dumps({
            "event": event,
            "helper": VALUE,
            "context": {
                "aws_request_id": context.aws_request_id,
                "function_name": context.function_name,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "log_group_name": context.log_group_name,
                "remaining": context.get_remaining_time_in_millis(),
            },
        }),
    }
"""
CRASH = """
def lambda_handler(event, context):
    raise RuntimeError("boom")
"""
MALFORMED = """
def lambda_handler(event, context):
    return {"body": "no status code"}
"""


def _function(code_uri: str, path: str, method: str = "POST", auth: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"RestApiId": {"Ref": "Api"}, "Path": path, "Method": method}
    if auth:
        event["Auth"] = {"Authorizer": auth}
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": code_uri,
            "Handler": "app.lambda_handler",
            "Events": {"Route": {"Type": "Api", "Properties": event}},
        },
    }


@pytest.fixture(scope="module")
def test_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real template with its functions replaced by the handlers above."""
    root = tmp_path_factory.mktemp("app")
    for name, source in (("echo", ECHO), ("crash", CRASH), ("malformed", MALFORMED)):
        (root / "functions" / name).mkdir(parents=True)
        (root / "functions" / name / "app.py").write_text(textwrap.dedent(source))
    (root / "functions" / "echo" / "helper.py").write_text("VALUE = 'from helper'\n")
    template = load_template(TEMPLATE)
    resources = {k: v for k, v in template["Resources"].items() if v["Type"] != "AWS::Serverless::Function"}
    resources |= {
        "EchoFunction": _function("functions/echo/", "/api/echo"),
        "ItemFunction": _function("functions/echo/", "/api/items/{id}", method="GET"),
        "PublicFunction": _function("functions/echo/", "/api/public", auth="NONE"),
        "CrashFunction": _function("functions/crash/", "/api/crash"),
        "MalformedFunction": _function("functions/malformed/", "/api/malformed"),
    }
    template["Resources"] = resources
    path = root / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def cognito() -> CognitoTokens:
    return make_cognito_tokens()


@pytest.fixture
def gateway(test_template: Path, cognito: CognitoTokens, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    serve_moto_jwks(monkeypatch)
    return Gateway(
        test_template,
        issuer=cognito.issuer,
        jwks_url=cognito.jwks_url,
        audience=cognito.client_id,
        origins=ORIGINS,
    )


@pytest.fixture
def base(gateway: Gateway) -> Iterator[tuple[str, int]]:
    """The gateway on a free port of 127.0.0.1."""
    server = make_server(gateway, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[:2]
    server.shutdown()
    server.server_close()
    thread.join(5)


def call(
    base: tuple[str, int], method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection(*base, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    try:
        conn.request(method, path, body=data, headers={"Origin": ORIGIN, **(headers or {})})
        response = conn.getresponse()
        raw = response.read()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            json.loads(raw) if raw else None,
        )
    finally:
        conn.close()


def bearer(cognito: CognitoTokens) -> dict[str, str]:
    return {"Authorization": f"Bearer {cognito.id_token}", "Content-Type": "application/json"}


def assert_envelope(body: dict[str, Any], headers: dict[str, str], status: int, kind: str) -> None:
    support.check_envelope(body, status, extras={"request_id"})
    assert body["server_message"] == kind
    assert body["request_id"] == headers["x-amzn-requestid"]
    assert headers["content-type"] == "application/json"


def assert_cors(headers: dict[str, str]) -> None:
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-allow-credentials"] == "true"
    assert "Authorization" in headers["access-control-allow-headers"]
    assert "Content-Type" in headers["access-control-allow-headers"]


def test_unknown_route_is_a_404_envelope(base: tuple[str, int]) -> None:
    status, headers, body = call(base, "POST", "/api/nope", {})
    assert status == 404
    assert_envelope(body, headers, 404, "MISSING_AUTHENTICATION_TOKEN")
    assert_cors(headers)


def test_known_path_with_another_method_is_a_404(base: tuple[str, int], cognito: CognitoTokens) -> None:
    status, headers, body = call(base, "GET", "/api/echo", headers=bearer(cognito))
    assert status == 404
    assert_envelope(body, headers, 404, "MISSING_AUTHENTICATION_TOKEN")


def test_missing_token_is_rejected_with_cors(base: tuple[str, int]) -> None:
    status, headers, body = call(base, "POST", "/api/echo", {"x": 1})
    assert status == 403
    assert_envelope(body, headers, 403, "UNAUTHORIZED")
    assert_cors(headers)


@pytest.mark.parametrize("value", ["Bearer not-a-token", "garbage", "Bearer "])
def test_bad_token_is_rejected(base: tuple[str, int], value: str) -> None:
    status, headers, body = call(base, "POST", "/api/echo", {}, {"Authorization": value})
    assert status == 403
    assert_envelope(body, headers, 403, "UNAUTHORIZED")


def test_expired_token_is_rejected(base: tuple[str, int], cognito: CognitoTokens) -> None:
    claims = jwt.decode(cognito.id_token, options={"verify_signature": False})
    claims.update(iat=int(time.time()) - 7200, exp=int(time.time()) - 60)
    status, headers, body = call(base, "POST", "/api/echo", {}, {"Authorization": moto_signed(claims)})
    assert status == 403
    assert_envelope(body, headers, 403, "UNAUTHORIZED")


def test_access_token_is_rejected(base: tuple[str, int], cognito: CognitoTokens) -> None:
    status, _, body = call(base, "POST", "/api/echo", {}, {"Authorization": cognito.access_token})
    assert (status, body["server_message"]) == (403, "UNAUTHORIZED")


def test_rejected_token_status_follows_the_parameter(
    test_template: Path, cognito: CognitoTokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_moto_jwks(monkeypatch)
    gw = Gateway(
        test_template,
        issuer=cognito.issuer,
        jwks_url=cognito.jwks_url,
        audience=cognito.client_id,
        origins=ORIGINS,
        parameters={"RejectedTokenStatus": "401"},
    )
    response = gw.handle("POST", "/api/echo", [("Origin", ORIGIN)], b"{}")
    assert response.status == 401
    assert json.loads(response.body)["status"] == 401


def test_preflight_is_answered_without_auth(base: tuple[str, int]) -> None:
    status, headers, _ = call(
        base,
        "OPTIONS",
        "/api/echo",
        headers={"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert status == 200
    assert_cors(headers)
    assert "POST" in headers["access-control-allow-methods"].split(",")


def test_preflight_from_an_unlisted_origin_gets_no_origin(base: tuple[str, int]) -> None:
    status, headers, _ = call(base, "OPTIONS", "/api/echo", headers={"Origin": "https://evil.example"})
    assert status == 200
    assert "access-control-allow-origin" not in headers


def test_preflight_of_an_unknown_path_is_a_404(base: tuple[str, int]) -> None:
    status, headers, body = call(base, "OPTIONS", "/api/nope")
    assert status == 404
    assert_envelope(body, headers, 404, "MISSING_AUTHENTICATION_TOKEN")


@pytest.mark.parametrize("form", ["Bearer {t}", "{t}"])
def test_authorized_call_reaches_the_handler(
    base: tuple[str, int], cognito: CognitoTokens, form: str
) -> None:
    headers = {"Authorization": form.format(t=cognito.id_token), "Content-Type": "application/json"}
    status, response_headers, body = call(
        base, "POST", "/api/echo?a=1&a=2&b=x", {"model_name": "Item"}, headers
    )
    assert status == 200
    assert response_headers["x-handler"] == "echo"
    assert body["helper"] == "from helper"
    event = body["event"]
    assert event["resource"] == "/api/echo"
    assert event["path"] == "/api/echo"
    assert event["httpMethod"] == "POST"
    assert json.loads(event["body"]) == {"model_name": "Item"}
    assert event["isBase64Encoded"] is False
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["multiValueHeaders"]["Origin"] == [ORIGIN]
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    context = event["requestContext"]
    assert context["requestId"] == response_headers["x-amzn-requestid"]
    assert context["stage"] == "dev"
    assert context["resourcePath"] == "/api/echo"
    assert context["httpMethod"] == "POST"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    claims = context["authorizer"]["claims"]
    assert all(isinstance(v, str) for v in claims.values())
    assert claims["sub"] == cognito.sub
    assert claims["token_use"] == "id"
    lambda_context = body["context"]
    assert lambda_context["function_name"] == "EchoFunction"
    assert lambda_context["memory_limit_in_mb"] == 512
    assert 0 < lambda_context["remaining"] <= 20_000
    assert lambda_context["invoked_function_arn"].endswith(":function:EchoFunction")
    assert lambda_context["log_group_name"] == "/aws/lambda/EchoFunction"
    assert lambda_context["aws_request_id"]


def test_handler_headers_and_multi_value_headers_are_returned(
    gateway: Gateway, cognito: CognitoTokens
) -> None:
    response: Response = gateway.handle("POST", "/api/echo", list(bearer(cognito).items()), b"{}")
    assert response.status == 200
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]


def test_route_without_authorizer_needs_no_token(base: tuple[str, int]) -> None:
    status, _, body = call(base, "POST", "/api/public", {"x": 1})
    assert status == 200
    assert "authorizer" not in body["event"]["requestContext"]


def test_path_parameters(base: tuple[str, int], cognito: CognitoTokens) -> None:
    status, _, body = call(base, "GET", "/api/items/42", headers=bearer(cognito))
    assert status == 200
    assert body["event"]["pathParameters"] == {"id": "42"}
    assert body["event"]["resource"] == "/api/items/{id}"
    assert body["context"]["function_name"] == "ItemFunction"


@pytest.mark.parametrize("path", ["/api/crash", "/api/malformed"])
def test_a_failing_function_is_a_502_envelope(
    base: tuple[str, int], cognito: CognitoTokens, path: str
) -> None:
    status, headers, body = call(base, "POST", path, {}, bearer(cognito))
    assert status == 502
    assert_envelope(body, headers, 502, "DEFAULT_5XX")
    assert_cors(headers)


def test_body_over_10_mb_is_a_413(gateway: Gateway, cognito: CognitoTokens) -> None:
    response = gateway.handle(
        "POST", "/api/echo", list(bearer(cognito).items()), b"x" * (MAX_REQUEST_BYTES + 1)
    )
    assert response.status == 413
    assert json.loads(response.body)["server_message"] == "REQUEST_TOO_LARGE"


def test_announced_body_over_10_mb_is_refused_unread(base: tuple[str, int]) -> None:
    conn = http.client.HTTPConnection(*base, timeout=30)
    try:
        conn.putrequest("POST", "/api/echo")
        conn.putheader("Content-Length", str(MAX_REQUEST_BYTES + 1))
        conn.putheader("Origin", ORIGIN)
        conn.endheaders()
        conn.send(b"{}")
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 413
    assert body["status"] == 413


def test_unconfigured_authorizer_is_a_500(test_template: Path) -> None:
    gw = Gateway(test_template, origins=ORIGINS)
    response = gw.handle("POST", "/api/echo", [("Authorization", "x")], b"{}")
    assert response.status == 500
    assert json.loads(response.body)["server_message"] == "AUTHORIZER_CONFIGURATION_ERROR"


def test_function_modules_do_not_leak(gateway: Gateway, cognito: CognitoTokens, test_template: Path) -> None:
    assert gateway.handle("POST", "/api/echo", list(bearer(cognito).items()), b"{}").status == 200
    assert "helper" not in sys.modules
    assert "app" not in sys.modules
    assert not [p for p in sys.path if p.startswith(str(test_template.parent / "functions"))]


def test_the_real_template_routes_get_items() -> None:
    gw = Gateway(TEMPLATE, origins=ORIGINS)
    route, params, _ = gw.match("POST", "/api/schemes/get_items")
    assert route is not None and route.authorized and params == {}
    assert (route.code_uri, route.handler) == ("functions/get_items/", "app.lambda_handler")
    assert gw.match("GET", "/api/schemes/get_items")[0] is None
