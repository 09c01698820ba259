"""Commands against a deployed stack (or, with --local, the stack of `make dev`).

    python -m devtools.deployed migrate STAGE                    # Alembic head through the migration function
    python -m devtools.deployed bootstrap-admin STAGE EMAIL PASSWORD
    python -m devtools.deployed smoke STAGE EMAIL PASSWORD       # what only AWS can show
    python -m devtools.deployed smoke --local                    # the same checks against `make dev`

The smoke check exercises the gateway responses (a rejected token, an unknown route), a CORS
preflight, login, a read, a presign round trip (PUT, store, signed read, delete), and a scheduled
invoke of the update function. It writes one item and deletes it again.
"""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

STATE = Path(tempfile.gettempdir()) / "dataapi-dev" / "state.json"
SCHEDULED_PROBE = {
    "model_name": "Item",
    "reference": "Smoke check",
    "query_filters": {
        "article_number": "smoke-check-never-matches",
        "created_at": {"operation": "<", "value": "$now-1d"},
    },
    "object_values": {"state": "Delayed"},
    "update_type": "all_matches",
}


def stack_outputs(stage: str) -> dict[str, str]:
    import boto3

    stack = boto3.client("cloudformation").describe_stacks(StackName=f"dataapi-{stage}")["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def invoke(function: str, payload: dict[str, Any]) -> dict[str, Any]:
    import boto3

    answer = boto3.client("lambda").invoke(FunctionName=function, Payload=json.dumps(payload).encode())
    body = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        raise SystemExit(f"{function} failed: {body}")
    return body


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Smoke:
    def __init__(self, api: str, origin: str, rejected_status: int) -> None:
        self.api, self.origin, self.rejected = api.rstrip("/"), origin, rejected_status
        self.failures: list[str] = []

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f"  ({detail})" if detail and not ok else ""))
        if not ok:
            self.failures.append(name)

    def envelope(self, status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        try:
            doc = json.loads(body)
        except ValueError:
            return {}
        same = doc.get("status") == status and isinstance(doc.get("body"), list) and doc.get("message")
        return doc if same and {"status", "message", "body", "server_message"} <= set(doc) else {}

    def call(
        self, path: str, body: Any, token: str | None = None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        headers = {"Content-Type": "application/json", "Origin": self.origin}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        status, hdrs, raw = http("POST", self.api + path, body, headers)
        return status, hdrs, self.envelope(status, hdrs, raw)

    def run(self, email: str, password: str) -> str | None:
        status, headers, env = self.call(
            "/api/schemes/get_items", {"model_name": "Item", "requested_data": ["id"]}
        )
        cors = {k.lower(): v for k, v in headers.items()}
        self.check("rejected token answers the envelope", status == self.rejected and bool(env), f"{status}")
        self.check("rejected token carries CORS", cors.get("access-control-allow-origin") == self.origin)
        status, _, env = self.call("/api/no-such-route", {}, None)
        self.check("unknown route answers the 404 envelope", status == 404 and bool(env), f"{status}")
        pre = {
            "Origin": self.origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        }
        status, headers, _ = http("OPTIONS", self.api + "/api/schemes/get_items", headers=pre)
        cors = {k.lower(): v for k, v in headers.items()}
        self.check(
            "preflight is answered without a token",
            status in (200, 204) and cors.get("access-control-allow-origin") == self.origin,
            f"{status}",
        )
        status, _, env = self.call("/api/login", {"email": email, "password": password})
        token = env.get("body", [{}])[0].get("token") if status == 200 and env else None
        self.check("login", token is not None, f"{status} {env.get('message')}")
        if token is None:
            return None
        status, _, env = self.call(
            "/api/schemes/get_items", {"model_name": "Item", "requested_data": ["id"], "per_page": 1}, token
        )
        self.check("get_items", status == 200, f"{status}")
        self.files(token)
        return token

    def files(self, token: str) -> None:
        status, _, env = self.call(
            "/api/generate-presigned-url",
            [{"fileName": "smoke.png", "filePath": "PurchaseAppReact/smoke-check", "fileType": "image/png"}],
            token,
        )
        self.check("presign", status == 200 and env["body"][0]["fileName"] == "smoke.png", f"{status}")
        if status != 200:
            return
        url = env["body"][0]["url"]
        data = b"\x89PNG smoke check"
        put, _, _ = http("PUT", url, raw=data, headers={"Content-Type": "image/png", "Origin": self.origin})
        self.check("PUT to the presigned URL", put == 200, f"{put}")
        unsigned = url.split("?", 1)[0]
        status, _, env = self.call(
            "/api/schemes/create_items",
            {
                "model_name": "Item",
                "object_values": {"article_number": "smoke-check", "images": [unsigned]},
                "requested_data": ["id", "images"],
            },
            token,
        )
        self.check("store the unsigned URL", status == 201, f"{status} {env.get('message')}")
        if status != 201:
            return
        item = env["body"][0]
        got, _, body = http("GET", item["images"][0])
        self.check("the signed read serves the bytes", got == 200 and body == data, f"{got}")
        status, _, env = self.call("/api/delete-image-url", {"urls": [unsigned]}, token)
        self.check("delete the object", status == 200, f"{status} {env.get('message')}")
        status, _, _ = self.call(
            "/api/schemes/delete_items",
            {
                "model_name": "Item",
                "object_values": {"query_filters": {"id": item["id"]}, "deletion_type": "delete_first"},
            },
            token,
        )
        self.check("delete the item", status == 201, f"{status}")


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    command, rest = argv[0], argv[1:]
    if command == "smoke" and rest[0] == "--local":
        state = json.loads(STATE.read_text())
        smoke = Smoke(state["api_url"], "http://localhost:5173", 403)
        smoke.run("admin@example.com", "demo-Admin-1")
        _local_scheduled(smoke, state)
    else:
        stage = rest[0]
        outputs = stack_outputs(stage)
        if command == "migrate":
            print(invoke(outputs["MigrationFunctionName"], {"action": "upgrade"}))
            return
        if command == "bootstrap-admin":
            print(
                invoke(
                    outputs["MigrationFunctionName"],
                    {"action": "bootstrap-admin", "email": rest[1], "password": rest[2]},
                )
            )
            return
        if command != "smoke":
            raise SystemExit(__doc__)
        smoke = Smoke(
            outputs["ApiUrl"],
            outputs.get("AllowedOrigin", "http://localhost:5173"),
            int(outputs.get("RejectedTokenStatus", "403")),
        )
        smoke.run(rest[1], rest[2])
        summary = invoke(outputs["UpdateItemsFunctionName"], SCHEDULED_PROBE)
        smoke.check("a scheduled invoke runs as the scheduler", summary.get("rows") == 0, str(summary))
    if smoke.failures:
        raise SystemExit(f"{len(smoke.failures)} smoke check(s) failed: {', '.join(smoke.failures)}")
    print("all smoke checks passed")


def _local_scheduled(smoke: Smoke, state: dict[str, Any]) -> None:
    """Locally there is no Lambda service: run the update handler in-process with a schedule event."""
    import importlib.util
    import os

    os.environ["DATABASE_URL"] = state["database_url"]
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location(
        "smoke_update_items", root / "functions" / "update_items" / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = type("Context", (), {"function_name": "update_items", "memory_limit_in_mb": 512, "aws_request_id": "smoke",
                                   "invoked_function_arn": "arn:aws:lambda:local:0:function:update_items"})()  # fmt: skip
    summary = module.lambda_handler(SCHEDULED_PROBE, context)
    smoke.check("a scheduled invoke runs as the scheduler", summary.get("rows") == 0, str(summary))


if __name__ == "__main__":
    main(sys.argv[1:])
