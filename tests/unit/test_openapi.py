"""devtools.openapi: the API's OpenAPI 3.1 document, and the local gateway serving it without auth.

The document is checked against the template's routes and the layer's pydantic models; its
examples are checked three ways: by the pydantic models, by the document's own JSON schemas, and
by the engine's own validation that needs no database (so they name real models and fields).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from dataapi import reads, writes
from dataapi.mutate.requests import CreateRequest, DeleteRequest, UpdateRequest
from dataapi.ops import files as file_ops
from dataapi.ops import session
from dataapi.query.parse import GetItemsRequest
from dataapi.registry import default_registry
from dataapi.settings import get_settings
from dataapi.storage.files import declared_prefixes
from devtools import openapi
from devtools.gateway import Gateway, make_server
from devtools.openapi import OPERATIONS, REF, SECURITY_SCHEME, Envelope, build, render
from devtools.template import ROOT, TEMPLATE, api_resource, load_template, routes

ERROR_CODES = ("400", "401", "403", "404", "409", "503")

# route path -> (model, component name, body kind)
REQUEST_MODELS: dict[str, tuple[type[BaseModel], str, str]] = {
    "/api/schemes/get_items": (GetItemsRequest, "GetItemsRequest", "one"),
    "/api/schemes/create_items": (CreateRequest, "CreateRequest", "batch"),
    "/api/schemes/update_items": (UpdateRequest, "UpdateRequest", "batch"),
    "/api/schemes/delete_items": (DeleteRequest, "DeleteRequest", "batch"),
    "/api/login": (session.LoginRequest, "LoginRequest", "one"),
    "/api": (session.MeRequest, "MeRequest", "optional"),
    "/api/generate-presigned-url": (file_ops.UploadEntry, "UploadEntry", "list"),
    "/api/delete-image-url": (file_ops.DeleteFilesRequest, "DeleteFilesRequest", "one"),
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build()


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


def _request_schema(doc: dict[str, Any], path: str) -> dict[str, Any]:
    return doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def _model_schema(model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    return schema, schema.pop("$defs", {})


# ---- the document -----------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    assert doc["openapi"] == "3.1.0"
    validator.validate(doc, cls=validator.OpenAPIV31SpecValidator)


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs = set(_refs(doc))
    assert refs
    for ref in refs:
        _resolve(doc, ref)


def test_operation_ids_are_unique(doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(ids) == len(set(ids)) == len(routes())


def test_schema_titles_are_unique(doc: dict[str, Any]) -> None:
    titles = [schema.get("title", name) for name, schema in doc["components"]["schemas"].items()]
    assert len(titles) == len(set(titles)), titles  # Swagger UI lists schemas by title


def test_every_route_of_the_template_is_present_with_its_security(doc: dict[str, Any]) -> None:
    template_routes = routes()
    assert len(template_routes) >= 9
    for route in template_routes:
        op = doc["paths"][route.path][route.method.lower()]
        assert op["security"] == ([{SECURITY_SCHEME: []}] if route.authorized else []), route.path
    documented = {(method.upper(), path) for path, method, _ in _operations(doc)}
    assert documented == {(r.method, r.path) for r in template_routes}


def test_login_needs_no_token_and_the_data_routes_do(doc: dict[str, Any]) -> None:
    assert doc["paths"]["/api/login"]["post"]["security"] == []
    for path in ("/api/schemes/get_items", "/api", "/api/logout", "/api/delete-image-url"):
        assert doc["paths"][path]["post"]["security"] == [{SECURITY_SCHEME: []}]
    scheme = doc["components"]["securitySchemes"][SECURITY_SCHEME]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")  # the Authorization header
    assert "ID token" in scheme["description"]
    assert "security" not in doc  # no global default: each operation says


def test_every_template_route_is_described_and_no_description_is_stale() -> None:
    """A new route in template.yaml needs its entry in devtools.openapi.OPERATIONS (and vice versa)."""
    assert set(OPERATIONS) == {(r.method, r.path) for r in routes()}


@pytest.mark.parametrize("path", sorted(REQUEST_MODELS))
def test_request_schemas_are_the_pydantic_models(doc: dict[str, Any], path: str) -> None:
    model, component, kind = REQUEST_MODELS[path]
    schemas = doc["components"]["schemas"]
    schema, defs = _model_schema(model)
    assert schemas[component] == {**schema, "title": component}  # titles are unique, as the names
    for name, definition in defs.items():
        assert schemas[name] == definition
    one = {"$ref": f"#/components/schemas/{component}"}
    body = doc["paths"][path]["post"]["requestBody"]
    got = body["content"]["application/json"]["schema"]
    if kind == "batch":
        assert got["oneOf"][0] == one
        assert got["oneOf"][1]["type"] == "array" and got["oneOf"][1]["items"] == one
    elif kind == "list":
        assert got["type"] == "array" and got["items"] == one
    else:
        assert got == one
    assert body["required"] is (kind != "optional")


def test_get_items_request_requires_model_name_and_requested_data(doc: dict[str, Any]) -> None:
    schema = doc["components"]["schemas"]["GetItemsRequest"]
    assert set(schema["required"]) == {"model_name", "requested_data"}
    assert schema["additionalProperties"] is False
    assert {"query_filters", "per_page", "cursor", "order_by", "count"} <= set(schema["properties"])


def test_delete_request_nests_delete_values(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["DeleteRequest"]["properties"]["object_values"] == {
        "$ref": "#/components/schemas/DeleteValues"
    }
    assert {"deletion_type", "delition_type", "also_do"} <= set(schemas["DeleteValues"]["properties"])
    assert schemas["DeleteFilesRequest"]["required"] == ["urls"]


def test_logout_takes_no_body(doc: dict[str, Any]) -> None:
    assert "requestBody" not in doc["paths"]["/api/logout"]["post"]


def test_envelope_schema_and_error_responses(doc: dict[str, Any]) -> None:
    envelope = doc["components"]["schemas"]["Envelope"]
    assert set(envelope["required"]) == {"status", "message", "body", "server_message"}
    assert {"request_id", "next_cursor", "count"} <= set(envelope["properties"])
    assert envelope["properties"]["body"]["type"] == "array"
    for path, method, op in _operations(doc):
        responses = op["responses"]
        for code in ERROR_CODES:
            response = _resolve(doc, responses[code]["$ref"])
            assert response["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Envelope"
            }
        success = [c for c in responses if c.startswith("2")]
        assert len(success) == 1, (method, path)
        assert responses[success[0]]["content"]["application/json"]["schema"]["$ref"].endswith("/Envelope")
    ops = doc["paths"]
    assert "200" in ops["/api/schemes/get_items"]["post"]["responses"]
    for path in ("create_items", "update_items", "delete_items"):
        assert "201" in ops[f"/api/schemes/{path}"]["post"]["responses"]


def test_response_examples_are_envelopes_with_their_status(doc: dict[str, Any]) -> None:
    examples: list[tuple[str, Any]] = []
    for _, _, op in _operations(doc):
        for code, response in op["responses"].items():
            if "$ref" not in response:
                examples.append((code, response["content"]["application/json"]["example"]))
    for name, response in doc["components"]["responses"].items():
        code = next(
            c
            for _, _, op in _operations(doc)
            for c, r in op["responses"].items()
            if r.get("$ref", "").endswith(f"/{name}")
        )
        examples.append((code, response["content"]["application/json"]["example"]))
    assert len(examples) >= 9 + len(ERROR_CODES)
    for code, example in examples:
        envelope = Envelope.model_validate(example)
        assert envelope.status == int(code)
        assert envelope.message
        if envelope.status >= 400:
            assert envelope.body == [] and envelope.server_message
    # The rejected-token example is the template's own UNAUTHORIZED gateway response.
    rejected = doc["components"]["responses"]["Forbidden"]["content"]["application/json"]["example"]
    assert rejected["server_message"] == "UNAUTHORIZED"


# ---- examples ---------------------------------------------------------------------------------


def _request_examples(doc: dict[str, Any], path: str) -> dict[str, Any]:
    content = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return {name: example["value"] for name, example in content["examples"].items()}


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@pytest.mark.parametrize("path", sorted(REQUEST_MODELS))
def test_request_examples_validate_against_model_and_schema(doc: dict[str, Any], path: str) -> None:
    model, _, kind = REQUEST_MODELS[path]
    examples = _request_examples(doc, path)
    assert examples
    validator = Draft202012Validator({**_request_schema(doc, path), "components": doc["components"]})
    for name, value in examples.items():
        errors = [e.message for e in validator.iter_errors(value)]
        assert not errors, (path, name, errors)
        if isinstance(value, list):
            assert kind in ("batch", "list"), (path, name)
            assert value
            for item in value:
                model.model_validate(item)
        else:
            assert kind != "list", (path, name)
            model.model_validate(value)


def test_the_required_examples_are_there(doc: dict[str, Any]) -> None:
    get = _request_examples(doc, "/api/schemes/get_items")
    assert get["contract"] == openapi.GET_ITEMS_EXAMPLE
    assert get["contract"]["requested_data"][-1] == "notes.subject.subject"
    create = _request_examples(doc, "/api/schemes/create_items")
    assert any(isinstance(n, dict) and n.get("action") == "link" for v in create.values() for n in _walk(v))
    assert any(isinstance(v, list) for v in create.values())  # a batch
    update = _request_examples(doc, "/api/schemes/update_items")
    assert any(v.get("update_type") == "first_match" for v in update.values())
    delete = _request_examples(doc, "/api/schemes/delete_items")
    assert any("deletion_type" in v["object_values"] for v in delete.values())


def test_data_examples_pass_the_engines_own_checks(doc: dict[str, Any]) -> None:
    """Everything the engine checks before the database: models, fields, types, actions, limits."""
    registry, settings, now = default_registry(), get_settings(), datetime.now(UTC)
    for value in _request_examples(doc, "/api/schemes/get_items").values():
        reads.validate(value, registry, settings, now)
    me = _request_examples(doc, "/api")["shaped"]
    reads.validate({"model_name": "User", **me}, registry, settings, now)
    for route, plan in (
        ("create_items", writes.plan_create),
        ("update_items", writes.plan_update),
        ("delete_items", writes.plan_delete),
    ):
        for value in _request_examples(doc, f"/api/schemes/{route}").values():
            plan(value, registry, settings)


def test_file_examples_use_allowed_prefixes_and_types(doc: dict[str, Any]) -> None:
    prefixes = declared_prefixes(default_registry())
    for entry in _request_examples(doc, "/api/generate-presigned-url")["upload"]:
        assert entry["fileType"] in get_settings().upload_types
        assert any((entry["filePath"].strip("/") + "/").startswith(p) for p in prefixes)
    for key in _request_examples(doc, "/api/delete-image-url")["delete"]["urls"]:
        assert any(key.startswith(p) for p in prefixes)


# ---- output -----------------------------------------------------------------------------------


def test_output_is_deterministic_and_the_command_writes_it(tmp_path: Path) -> None:
    text = render(build())
    assert text == render(build())
    assert str(ROOT) not in text  # no machine paths
    out = tmp_path / "openapi.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the command finds the layer itself
    env["PYTHONHASHSEED"] = "12345"
    command = [sys.executable, "-m", "devtools.openapi"]
    subprocess.run([*command, "--out", str(out)], cwd=ROOT, env=env, check=True, timeout=120)
    assert out.read_text(encoding="utf-8") == text
    env["PYTHONHASHSEED"] = "54321"
    printed = subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=120, capture_output=True)
    assert printed.stdout.decode("utf-8") == text


def test_a_committed_openapi_json_is_current() -> None:
    committed = ROOT / "openapi.json"
    if not committed.exists():
        pytest.skip("no openapi.json at the repository root (make openapi writes it)")
    assert committed.read_text(encoding="utf-8") == render(build()), "run make openapi"


def test_a_route_without_a_description_is_still_documented(tmp_path: Path) -> None:
    template = load_template(TEMPLATE)
    api = {"RestApiId": {"Ref": api_resource(template)[0]}}
    function = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": "functions/x/",
            "Handler": "app.lambda_handler",
            "Events": {
                "Get": {"Type": "Api", "Properties": {**api, "Path": "/api/things/{id}", "Method": "GET"}},
                "Any": {
                    "Type": "Api",
                    "Properties": {
                        **api,
                        "Path": "/files/{key+}",
                        "Method": "ANY",
                        "Auth": {"Authorizer": "NONE"},
                    },
                },
            },
        },
    }
    template["Resources"]["ThingsFunction"] = function
    path = tmp_path / "template.yaml"

    path.write_text(yaml.safe_dump(template, sort_keys=False))
    doc = build(path)
    thing = doc["paths"]["/api/things/{id}"]["get"]
    assert thing["security"] == [{SECURITY_SCHEME: []}]
    assert thing["parameters"][0]["name"] == "id"
    assert set(doc["paths"]["/files/{key}"]) == {"get", "post", "put", "patch", "delete"}
    assert doc["paths"]["/files/{key}"]["get"]["security"] == []
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc, cls=validator.OpenAPIV31SpecValidator)


# ---- served by the local gateway --------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    # An authorizer that can check tokens (a missing one is rejected before the keys are fetched).
    return Gateway(
        TEMPLATE,
        issuer="https://cognito-idp.eu-north-1.amazonaws.com/eu-north-1_test",
        jwks_url="http://127.0.0.1:9/.well-known/jwks.json",
        origins=("http://localhost:5173",),
    )


@pytest.fixture(scope="module")
def base(gateway: Gateway) -> Iterator[tuple[str, int]]:
    server = make_server(gateway, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[:2]
    server.shutdown()
    server.server_close()
    thread.join(5)


def get(base: tuple[str, int], path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*base, timeout=30)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_openapi_json_is_served_without_a_token(base: tuple[str, int]) -> None:
    status, headers, body = get(base, "/openapi.json")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == json.loads(render(build()))


def test_docs_are_served_without_a_token(base: tuple[str, int]) -> None:
    status, headers, body = get(base, "/docs")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    page = body.decode()
    assert "/openapi.json" in page
    static = openapi.swagger_ui_dir()
    if static is None:  # no Swagger UI package: a plain page listing the routes
        assert "/api/schemes/get_items" in page
        return
    assert "/docs/swagger-ui-bundle.js" in page and "/docs/swagger-ui.css" in page
    for asset, kind in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")):
        status, headers, body = get(base, f"/docs/{asset}")
        assert (status, headers["content-type"]) == (200, kind)
        assert body == (static / asset).read_bytes()


def test_the_api_itself_still_needs_a_token(base: tuple[str, int]) -> None:
    conn = http.client.HTTPConnection(*base, timeout=30)
    try:
        conn.request(
            "POST", "/api/schemes/get_items", body=b"{}", headers={"Content-Type": "application/json"}
        )
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert (response.status, body["server_message"]) == (403, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/docs/../template.yaml"),
        ("GET", "/docs/%2e%2e/template.yaml"),
        ("GET", "/docs/.hidden"),
        ("GET", "/docs/no-such-file.js"),
        ("POST", "/openapi.json"),
        ("POST", "/docs"),
    ],
)
def test_other_docs_requests_are_the_gateways_404(base: tuple[str, int], method: str, path: str) -> None:
    status, _, body = get(base, path, method)
    assert status == 404
    assert json.loads(body)["server_message"] == "MISSING_AUTHENTICATION_TOKEN"


def test_head_of_the_docs_has_no_body(base: tuple[str, int]) -> None:
    status, headers, body = get(base, "/openapi.json", "HEAD")
    assert status == 200 and body == b""
    assert int(headers["content-length"]) > 1000


def test_without_swagger_ui_docs_is_a_page_listing_the_routes(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openapi, "swagger_ui_dir", lambda: None)
    response = gateway.handle("GET", "/docs", [])
    assert response.status == 200
    page = response.body.decode()
    assert '<a href="/openapi.json">' in page
    for route in routes():
        assert f"<code>{route.path}</code>" in page
    assert gateway.handle("GET", "/docs/swagger-ui-bundle.js", []).status == 404
