"""A local API Gateway (REST, Lambda proxy) for the API, on http://127.0.0.1:8080.

Routes exactly as template.yaml routes them (devtools/template.py), checks ID tokens as the Cognito
user pool authorizer would (dataapi.identity.tokens), shapes its own rejections with the template's gateway
responses (UNAUTHORIZED, MISSING_AUTHENTICATION_TOKEN, REQUEST_TOO_LARGE, DEFAULT_5XX, ...), answers
CORS preflights without auth, and calls each function's handler with a REST proxy event (version
1.0) and a Lambda-like context. Each function is one "container": its module is imported once,
from its CodeUri.

On Lambda each execution environment serves one request at a time, and handlers rely on it
(Powertools keeps the current event on the resolver's router class); parallel requests to one
function run in parallel environments, so races between requests show there. Two isolations:
- `isolation="process"` (`make dev`): each function runs in up to `workers_per_function` worker
  processes (`DEV_WORKERS_PER_FUNCTION`, default 4), each serving one request at a time, as
  execution environments do: a request takes an idle worker, or starts another (at the first
  requests, as Lambda scales out), or waits for one when all are busy. Parallel requests, to one
  function or to several, run in parallel.
- `isolation="thread"` (the default, for tests that patch the process, e.g. moto in-process):
  handlers run in this process, one invocation at a time whatever the function, because every
  function imported here shares the router class.
The HTTP server accepts connections in parallel either way, with a listen backlog (LISTEN_BACKLOG)
that takes a browser's or a load test's burst of connections; requests wait for their turn.

Locally the CORS origin is the request's Origin when it is in the configured list
(settings.cors_origins), where in AWS it is the stage's one origin.

Beyond the template's routes, it serves the API's docs without auth: `GET /openapi.json` (the
OpenAPI document of devtools/openapi.py) and `GET /docs` (Swagger UI).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import multiprocessing
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from dataapi.identity.tokens import KeysUnavailable, TokenRejected, verify_id_token
from devtools import localpool
from devtools.template import (
    TEMPLATE,
    GatewayResponse,
    Route,
    gateway_response,
    gateway_responses,
    load_template,
    parameter_values,
    routes,
)

HOST = "127.0.0.1"
PORT = 8080
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response limit
CORS_HEADERS = "Content-Type, Authorization, Idempotency-Key"
ACCOUNT_ID = "000000000000"
WORKERS_ENV = "DEV_WORKERS_PER_FUNCTION"
WORKERS_PER_FUNCTION = 4
LISTEN_BACKLOG = 1024  # socketserver's default of 5 resets connections of a burst (capped by somaxconn)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class LambdaContext:
    """The parts of the Lambda context object handlers and Powertools use."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: int, region: str) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(code_dir: Path, handler: str, unique: str) -> Callable[[dict[str, Any], Any], Any]:
    """Import `module.function` of a function's CodeUri as module `unique` (its sibling modules
    are not left in sys.modules, where they could shadow another function's same-named ones)."""
    module_name, _, func = handler.rpartition(".")
    source = code_dir / (module_name.replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(unique, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    before = set(sys.modules)
    sys.modules[unique] = module
    sys.path.insert(0, str(code_dir))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(unique, None)
        raise
    finally:
        sys.path.remove(str(code_dir))
        for name in set(sys.modules) - before - {unique}:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file and Path(file).resolve().is_relative_to(code_dir):
                del sys.modules[name]
    return getattr(module, func)


LOCAL_TRIGGERS = "DATAAPI_LOCAL_COGNITO_TRIGGERS"
"""Set by the local stack: worker processes install the Cognito trigger shim (devtools/cognito_triggers.py)."""


class HandlerFailed(Exception):
    """The function raised (or its worker died); the text is the worker's traceback."""


def _worker_main(conn: Any, route: Route, code_dir: Path, region: str) -> None:
    """A function's execution environment: import the handler once, then one event at a time."""
    if os.environ.get(LOCAL_TRIGGERS):  # moto runs no Cognito triggers: run them where Cognito would
        from devtools import cognito_triggers

        cognito_triggers.install()
    if os.environ.get(localpool.BOOK_ENV):  # the local pool's passwords, kept for the next run
        localpool.install()
    try:
        handler = load_handler(code_dir, route.handler, f"_dataapi_fn_{route.function}")
    except BaseException:
        failure = traceback.format_exc()
        handler = None
    while True:
        try:
            event = conn.recv()
        except (EOFError, OSError):
            return
        if handler is None:
            conn.send((False, failure))
            continue
        context = LambdaContext(route.function, route.memory_size, route.timeout, region)
        try:
            conn.send((True, handler(event, context)))
        except Exception:
            conn.send((False, traceback.format_exc()))


class Worker:
    """One function's worker process (started at its first request, restarted if it dies)."""

    def __init__(self, route: Route, code_dir: Path, region: str, number: int = 1) -> None:
        self.route, self.code_dir, self.region, self.number = route, code_dir, region, number
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Any = None

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=_worker_main,
            args=(theirs, self.route, self.code_dir, self.region),
            name=f"fn-{self.route.function}-{self.number}",
            daemon=True,
        )
        self._process.start()
        theirs.close()
        self._conn = ours

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:  # one request at a time, as a Lambda execution environment
            if self._process is None or not self._process.is_alive():
                self._start()
            try:
                self._conn.send(event)
                ok, payload = self._conn.recv()
            except (EOFError, OSError) as exc:
                self.close()
                raise HandlerFailed(f"the worker of {self.route.function} died: {exc!r}") from None
        if not ok:
            raise HandlerFailed(payload)
        return payload

    def stop(self) -> None:
        """Tell the worker to exit (it does at the end of its pipe); `close` waits for it."""
        if self._conn is not None:
            self._conn.close()

    def close(self) -> None:
        self.stop()
        if self._process is not None:
            self._process.join(5)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5)
        self._process = self._conn = None


class Workers:
    """One function's execution environments: up to `limit` workers, each serving one request at
    a time. A request takes an idle worker (the one used last: the warmest), else starts another
    while fewer than `limit` exist, else waits for one to be free."""

    def __init__(self, route: Route, code_dir: Path, region: str, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"{WORKERS_ENV} must be at least 1, not {limit}")
        self.route, self.code_dir, self.region, self.limit = route, code_dir, region, limit
        self._free = threading.Condition()
        self._idle: list[Worker] = []
        self._all: list[Worker] = []

    def invoke(self, event: dict[str, Any]) -> Any:
        worker = self._take()
        try:
            return worker.invoke(event)
        finally:
            with self._free:
                self._idle.append(worker)
                self._free.notify()

    def _take(self) -> Worker:
        with self._free:
            while not self._idle and len(self._all) >= self.limit:
                self._free.wait()
            if self._idle:
                return self._idle.pop()
            worker = Worker(self.route, self.code_dir, self.region, len(self._all) + 1)
            self._all.append(worker)
            return worker  # its process starts at its first request, outside this lock

    def stop(self) -> None:
        with self._free:
            workers = list(self._all)
        for worker in workers:
            worker.stop()

    def close(self) -> None:
        self.stop()  # all told first: they exit together
        with self._free:
            workers, self._all, self._idle = self._all, [], []
        for worker in workers:
            worker.close()


def workers_per_function() -> int:
    """DEV_WORKERS_PER_FUNCTION (default 4): how many requests one function serves at once locally."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    try:
        return int(raw) if raw else WORKERS_PER_FUNCTION
    except ValueError:
        raise ValueError(f"{WORKERS_ENV} must be a whole number, not {raw!r}") from None


def _path_pattern(path: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{") and piece.endswith("+}"):
            parts.append(f"(?P<{piece[1:-2]}>.+)")
        elif piece.startswith("{") and piece.endswith("}"):
            parts.append(f"(?P<{piece[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts) + "$")


class Gateway:
    """Routes requests to handlers the way API Gateway would; independent of the HTTP server."""

    def __init__(
        self,
        template_path: Path | str = TEMPLATE,
        *,
        issuer: str | None = None,
        jwks_url: str | None = None,
        audience: str | None = None,
        origins: tuple[str, ...] | None = None,
        parameters: dict[str, str] | None = None,
        isolation: Literal["thread", "process"] = "thread",
        workers_per_function: int = WORKERS_PER_FUNCTION,
    ) -> None:
        if workers_per_function < 1:
            raise ValueError(f"{WORKERS_ENV} must be at least 1, not {workers_per_function}")
        self.template_path = Path(template_path).resolve()
        self.isolation = isolation
        self.workers_per_function = workers_per_function
        template = load_template(self.template_path)
        self.routes = routes(template)
        self.responses = gateway_responses(template, parameters=parameters)
        params = parameter_values(template, parameters)
        self.stage = params.get("Stage", "dev")
        self.region = params["AWS::Region"]
        self.issuer, self.jwks_url, self.audience = issuer, jwks_url, audience
        if origins is None:
            from dataapi.settings import get_settings

            origins = get_settings().cors_origins
        self.origins = tuple(origins)
        # Most specific first: literal paths before {param} paths before {proxy+} paths.
        self._matchers = sorted(
            ((_path_pattern(r.path), r) for r in self.routes),
            key=lambda pr: (pr[1].path.count("+}"), pr[1].path.count("{"), -len(pr[1].path)),
        )
        self._handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        # One request at a time in this process, across functions (see the module docstring).
        self._invoke_lock = threading.Lock()
        self._workers: dict[str, Workers] = {}
        self._import_lock = threading.Lock()

    # -- routing ---------------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path parameters, whether any route has this path)."""
        path_known = False
        for pattern, route in self._matchers:
            m = pattern.match(path)
            if m:
                path_known = True
                if route.method in (method, "ANY"):
                    return route, m.groupdict(), True
        return None, {}, path_known

    def _allowed_methods(self, path: str) -> str:
        methods = {r.method for p, r in self._matchers if p.match(path)}
        if "ANY" in methods:
            methods = {"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"}
        return ",".join(sorted(methods | {"OPTIONS"}))

    # -- responses -------------------------------------------------------------------------------
    def _origin_headers(self, origin: str | None) -> list[tuple[str, str]]:
        if origin and origin in self.origins:
            return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        return []

    def reject(self, kind: str, request_id: str, origin: str | None, message: str = "") -> Response:
        """A gateway response of the template, with the local CORS origin."""
        spec: GatewayResponse = gateway_response(self.responses, kind)
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
        headers += [(k, v) for k, v in spec.headers.items() if k.lower() != "access-control-allow-origin"]
        headers += self._origin_headers(origin)
        headers.append(("x-amzn-ErrorType", kind))
        return Response(spec.status, headers, spec.render(request_id, message).encode())

    def preflight(self, path: str, request_id: str, origin: str | None) -> Response:
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id),
            ("Access-Control-Allow-Methods", self._allowed_methods(path)),
            ("Access-Control-Allow-Headers", CORS_HEADERS),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Max-Age", "600"),
            *self._origin_headers(origin),
        ]
        return Response(200, headers, b"{}")

    # -- handlers --------------------------------------------------------------------------------
    def _handler(self, route: Route) -> Callable[[dict[str, Any], Any], Any]:
        with self._import_lock:
            if route.function not in self._handlers:
                self._handlers[route.function] = self._import(route)
            return self._handlers[route.function]

    def _import(self, route: Route) -> Callable[[dict[str, Any], Any], Any]:
        code_dir = (self.template_path.parent / route.code_uri).resolve()
        return load_handler(code_dir, route.handler, f"_dataapi_fn_{route.function}")

    def _worker(self, route: Route) -> Workers:
        with self._import_lock:
            if route.function not in self._workers:
                code_dir = (self.template_path.parent / route.code_uri).resolve()
                self._workers[route.function] = Workers(
                    route, code_dir, self.region, self.workers_per_function
                )
            return self._workers[route.function]

    def close(self) -> None:
        """Stop the worker processes (process isolation)."""
        with self._import_lock:
            pools, self._workers = list(self._workers.values()), {}
        for pool in pools:  # all told first: they exit together
            pool.stop()
        for pool in pools:
            pool.close()

    def event(
        self,
        route: Route,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        path_params: dict[str, str],
        request_id: str,
        source_ip: str,
        claims: dict[str, str] | None,
    ) -> dict[str, Any]:
        """An API Gateway REST proxy event (payload version 1.0)."""
        headers = [*headers, ("X-Forwarded-For", source_ip), ("X-Forwarded-Proto", "http")]
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for k, v in headers:
            name = next((n for n in multi if n.lower() == k.lower()), k)
            multi.setdefault(name, []).append(v)
            single[name] = v
        pairs = parse_qsl(query, keep_blank_values=True)
        mq: dict[str, list[str]] = {}
        for k, v in pairs:
            mq.setdefault(k, []).append(v)
        try:
            text, is_b64 = (body.decode("utf-8") if body else None), False
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode("ascii"), True
        now = time.time()
        context: dict[str, Any] = {
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{self.stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": self.stage,
            "domainPrefix": "local",
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": source_ip, "userAgent": single.get("User-Agent")},
            "domainName": single.get("Host", f"{HOST}:{PORT}"),
            "apiId": "local",
        }
        if claims is not None:
            context["authorizer"] = {"claims": claims}
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": single or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": dict(pairs) or None,
            "multiValueQueryStringParameters": mq or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": context,
            "body": text,
            "isBase64Encoded": is_b64,
        }

    def _invoke(self, route: Route, event: dict[str, Any], request_id: str, origin: str | None) -> Response:
        try:
            if self.isolation == "process":
                result = self._worker(route).invoke(event)
            else:
                handler = self._handler(route)
                context = LambdaContext(route.function, route.memory_size, route.timeout, self.region)
                with self._invoke_lock:
                    result = handler(event, context)
        except HandlerFailed as exc:  # a crashed function is a 502, as in AWS
            print(f"[gateway] {route.function} failed:\n{exc}", file=sys.stderr)
            return self.reject("DEFAULT_5XX", request_id, origin, "Internal server error")
        except Exception:
            print(f"[gateway] {route.function} failed:\n{traceback.format_exc()}", file=sys.stderr)
            return self.reject("DEFAULT_5XX", request_id, origin, "Internal server error")
        try:
            status = result["statusCode"]
            if isinstance(status, bool) or not isinstance(status, int):
                status = int(status)
            if len(json.dumps(result, default=str)) > MAX_LAMBDA_RESPONSE_BYTES:
                raise ValueError("response over Lambda's 6 MB limit")
            headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
            for k, values in (result.get("multiValueHeaders") or {}).items():
                headers = [(hk, hv) for hk, hv in headers if hk.lower() != k.lower()]
                headers += [(k, str(v)) for v in values]
            body = result.get("body") or ""
            data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        except Exception as exc:  # a malformed proxy response is a 502 in AWS
            print(f"[gateway] {route.function}: malformed response: {exc!r}", file=sys.stderr)
            return self.reject("DEFAULT_5XX", request_id, origin, "Internal server error")
        if not any(k.lower() == "x-amzn-requestid" for k, _ in headers):
            headers.append(("x-amzn-RequestId", request_id))
        return Response(status, headers, data)

    # -- API docs (not routes of the template: the gateway answers them itself, without auth) ----
    def docs(self, path: str, request_id: str) -> Response | None:
        """GET /openapi.json (devtools/openapi.py) and /docs (Swagger UI); None for other paths."""
        from devtools.openapi import docs_response  # on first use: the API never waits for it

        try:
            found = docs_response(path, self.template_path)
        except Exception:
            print(f"[gateway] API docs failed:\n{traceback.format_exc()}", file=sys.stderr)
            return self.reject("DEFAULT_5XX", request_id, None, "Internal server error")
        if found is None:
            return None
        status, content_type, data = found
        return Response(status, [("Content-Type", content_type), ("x-amzn-RequestId", request_id)], data)

    # -- the whole request -----------------------------------------------------------------------
    def handle(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        source_ip: str = "127.0.0.1",
    ) -> Response:
        request_id = str(uuid.uuid4())
        method = method.upper()
        parts = urlsplit(target)
        path = parts.path or "/"
        origin = next((v for k, v in headers if k.lower() == "origin"), None)
        if len(body) > MAX_REQUEST_BYTES:
            return self.reject("REQUEST_TOO_LARGE", request_id, origin, "Request Too Long")
        route, path_params, path_known = self.match(method, path)
        if route is None:
            if method == "OPTIONS" and path_known:
                return self.preflight(path, request_id, origin)
            if method in ("GET", "HEAD") and (
                path in ("/openapi.json", "/docs") or path.startswith("/docs/")
            ):
                docs = self.docs(path, request_id)
                if docs is not None:
                    return docs
            return self.reject(
                "MISSING_AUTHENTICATION_TOKEN", request_id, origin, "Missing Authentication Token"
            )
        claims = None
        if route.authorized:
            if not (self.issuer and self.jwks_url):
                return self.reject("AUTHORIZER_CONFIGURATION_ERROR", request_id, origin, "Authorizer error")
            token = next((v for k, v in headers if k.lower() == "authorization"), "")
            try:
                claims = verify_id_token(
                    token, issuer=self.issuer, jwks_url=self.jwks_url, audience=self.audience
                )
            except KeysUnavailable as exc:
                print(f"[gateway] JWKS unavailable: {exc.server_message}", file=sys.stderr)
                return self.reject("AUTHORIZER_FAILURE", request_id, origin, "Authorizer error")
            except TokenRejected:
                return self.reject("UNAUTHORIZED", request_id, origin, "Unauthorized")
        event = self.event(
            route, method, path, parts.query, headers, body, path_params, request_id, source_ip, claims
        )
        return self._invoke(route, event, request_id, origin)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dataapi-local-gateway"
    gateway: Gateway  # set on the subclass made by make_server

    def _read_body(self) -> bytes | None:
        """The body, or None when it is over the limit (then the connection is closed)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        started = time.monotonic()
        body = self._read_body()
        if body is None:  # not read: answer and close the connection
            self.close_connection = True
            origin = self.headers.get("Origin")
            response = self.gateway.reject("REQUEST_TOO_LARGE", str(uuid.uuid4()), origin, "Request Too Long")
        else:
            headers = list(self.headers.items())
            response = self.gateway.handle(self.command, self.path, headers, body, self.client_address[0])
        self.send_response_only(response.status)
        skip = {"content-length", "connection", "transfer-encoding", "date", "server"}
        for k, v in response.headers:
            if k.lower() not in skip:
                self.send_header(k, v)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        ms = (time.monotonic() - started) * 1000
        print(f"[gateway] {self.command} {self.path} -> {response.status} ({ms:.0f} ms)", file=sys.stderr)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is printed by _serve


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG  # the listen() backlog
    daemon_threads = True


def make_server(gateway: Gateway, host: str = HOST, port: int = PORT) -> ThreadingHTTPServer:
    """A threading HTTP server for the gateway (call serve_forever; port 0 picks a free port)."""
    handler = type("GatewayRequestHandler", (_RequestHandler,), {"gateway": gateway})
    return _Server((host, port), handler)


def from_environment(
    template_path: Path | str = TEMPLATE, isolation: Literal["thread", "process"] = "process"
) -> Gateway:
    """A gateway configured like the handlers: COGNITO_ISSUER, COGNITO_JWKS_URL, COGNITO_APP_CLIENT_ID;
    each function in up to DEV_WORKERS_PER_FUNCTION worker processes (the environment is the
    workers' at their start)."""
    return Gateway(
        template_path,
        issuer=os.environ.get("COGNITO_ISSUER"),
        jwks_url=os.environ.get("COGNITO_JWKS_URL"),
        audience=os.environ.get("COGNITO_APP_CLIENT_ID") or None,
        isolation=isolation,
        workers_per_function=workers_per_function(),
    )


if __name__ == "__main__":  # the gateway alone, configured from the environment
    gateway = from_environment()
    server = make_server(gateway)
    print(f"API on http://{HOST}:{server.server_address[1]}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        gateway.close()
