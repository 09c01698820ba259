"""The API's OpenAPI 3.1 document, built from the request models and the routes of template.yaml.

    python -m devtools.openapi [--out openapi.json]   # the document (default: stdout)

Request schemas are the layer's pydantic models (`model_json_schema`, with their `$defs` hoisted
into `components.schemas`); responses are the envelope of docs/contract.md §2 (`Envelope` below); routes and
which of them need a token come from template.yaml (devtools/template.py). Output is deterministic
(fixed build order, sorted component names and status codes) so the file can be committed and
diffed.

The local gateway serves it without auth: `GET /openapi.json`, and `GET /docs` (Swagger UI from the
`swagger-ui-py` package's files when it is installed; else a plain page listing the routes).
"""

from __future__ import annotations

import argparse
import copy
import html
import importlib.util
import json
import mimetypes
import re
import sys
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from devtools.template import (
    ROOT,
    TEMPLATE,
    Route,
    gateway_response,
    gateway_responses,
    load_template,
    routes,
)

if importlib.util.find_spec("dataapi") is None:  # `python -m devtools.openapi` outside make: the layer
    sys.path.insert(0, str(ROOT / "layers" / "engine"))

from dataapi.mutate.requests import CreateRequest, DeleteRequest, UpdateRequest
from dataapi.ops import files as file_ops
from dataapi.ops import session
from dataapi.query.parse import GetItemsRequest

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "CognitoIdToken"
EXAMPLE_REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


class Envelope(BaseModel):
    """Every response body, success or error, from every route (docs/contract.md §2)."""

    model_config = ConfigDict(extra="allow", title="Envelope")

    status: int
    message: str
    body: list[Any]
    server_message: str
    request_id: str | None = None
    next_cursor: str | None = None
    count: int | None = None


BodyKind = Literal["one", "batch", "list", "optional", "none"]


@dataclass(frozen=True)
class Operation:
    """How one route of template.yaml is documented."""

    operation_id: str
    summary: str
    description: str
    tag: str
    success: int
    success_message: str
    model: type[BaseModel] | None = None
    component: str = ""  # the schema's name in components (default: the model's class name)
    body: BodyKind = "one"
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    success_body: list[Any] = field(default_factory=list)
    success_extra: dict[str, Any] = field(default_factory=dict)
    keyed: bool = False  # takes an Idempotency-Key (docs/contract.md §4.6)

    @property
    def schema_name(self) -> str:
        return self.component or (self.model.__name__ if self.model else "")


# ---- examples (docs/contract.md §3, §4, §6, §7) -----------------------------------------------------------

GET_ITEMS_EXAMPLE: dict[str, Any] = {
    "model_name": "Item",
    "requested_data": ["id", "article_number", {"dealer": ["dealer_name", "id"]}, "notes.subject.subject"],
    "query_filters": {
        "state": "In-Transit",
        "purchased_price": {"operation": ">=", "value": 500},
        "or-article_number": {"operation": "ilike", "value": "%2512%"},
        "or-reference_number": {"operation": "ilike", "value": "%2512%"},
    },
    "per_page": 60,
    "cursor": 1873,
}
GET_ITEMS_ORDERED_EXAMPLE: dict[str, Any] = {
    "model_name": "Dealer",
    "requested_data": ["id", "dealer_name", "item_count"],
    "query_filters": {"$or": [{"dealer_type": "Private"}, {"item_count": {"operation": ">", "value": 10}}]},
    "order_by": ["-item_count", "dealer_name"],
    "per_page": 20,
    "count": True,
}
CREATE_LINK_EXAMPLE: dict[str, Any] = {
    "model_name": "Item",
    "reference": "Item",
    "object_values": {
        "article_number": "2512-0042",
        "state": "In-Transit",
        "purchased_price": 650,
        "dealer": {
            "action": "link",
            "values": {
                "Dealer": {
                    "query_filters": {"dealer_name": "Anna Berg"},
                    "link_type": "first_link",
                    "action_if_none": "create_entry",
                    "values_for_none_action": {"dealer_name": "Anna Berg", "dealer_type": "private"},
                }
            },
        },
    },
    "requested_data": ["id", "article_number", {"dealer": ["id", "dealer_name"]}],
}
CREATE_BATCH_EXAMPLE: list[dict[str, Any]] = [
    {"model_name": "Item_Notes_Subject", "reference": "Subject", "object_values": {"subject": "Condition"}},
    {
        "model_name": "Item_Note",
        "reference": "Note",
        "object_values": {
            "note_content": "Scratch on the left side.",
            "subject": {
                "action": "link",
                "values": {
                    "Item_Notes_Subject": {
                        "query_filters": {"subject": "Condition"},
                        "link_type": "first_link",
                    }
                },
            },
        },
        "requested_data": ["id", {"subject": ["subject"]}],
    },
]
UPDATE_FIRST_MATCH_EXAMPLE: dict[str, Any] = {
    "model_name": "Item",
    "reference": "Item",
    "update_type": "first_match",
    "query_filters": {"article_number": "2512-0042"},
    "object_values": {
        "state": "Completed",
        "sold_price": 900,
        "item_history": {
            "action": "create",
            "sub_model_name": "Item_History",
            "values": {
                "column_name": "state",
                "from_value": "In-Transit",
                "to_value": "Completed",
                "type": "update",
            },
        },
    },
    "requested_data": ["id", "state", "sold_price"],
}
UPDATE_IF_MATCH_EXAMPLE: dict[str, Any] = {
    "model_name": "Item",
    "reference": "Item",
    "update_type": "first_match",
    "query_filters": {"id": 1874},
    "if_match": {"row_version": 3},
    "object_values": {"valuation": 950},
    "requested_data": ["id", "valuation", "row_version"],
}
DELETE_IF_MATCH_EXAMPLE: dict[str, Any] = {
    "model_name": "Item_Note",
    "reference": "Note",
    "if_match": {"row_version": 2},
    "object_values": {"query_filters": {"id": 42}, "deletion_type": "delete_first"},
}
DELETE_EXAMPLE: dict[str, Any] = {
    "model_name": "Item_Note",
    "reference": "Note",
    "object_values": {"query_filters": {"id": 42}, "deletion_type": "delete_first"},
}
DELETE_LEGACY_EXAMPLE: dict[str, Any] = {
    "model_name": "Item",
    "reference": "Item",
    "object_values": {
        "query_filters": {"state": "Cancelled", "created_at": {"operation": "<", "value": "$now-30d"}},
        "delition_type": "delete_all",
    },
}
LOGIN_EXAMPLE: dict[str, Any] = {"email": "admin@example.com", "password": "your-password"}
ME_SHAPED_EXAMPLE: dict[str, Any] = {"requested_data": ["id", "username", {"roles": ["role"]}]}
UPLOAD_EXAMPLE: list[dict[str, Any]] = [
    {"fileName": "front.jpg", "filePath": "PurchaseAppReact/2512-0042", "fileType": "image/jpeg"},
    {"fileName": "back.png", "filePath": "PurchaseAppReact/2512-0042", "fileType": "image/png"},
]
DELETE_FILES_EXAMPLE: dict[str, Any] = {"urls": ["PurchaseAppReact/2512-0042/front-1a2b3c4d5e6f.jpg"]}

_ROW = {"id": 1874, "article_number": "2512-0042", "dealer": {"id": 7, "dealer_name": "Anna Berg"}}
_ME = {
    "id": 1,
    "username": "admin",
    "email": "admin@example.com",
    "phone": "+46 70 000 00 01",
    "roles": [{"role": "Admin", "id": 1}],
    "profile_picture": None,
}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/api/schemes/get_items"): Operation(
        operation_id="get_items",
        summary="Read rows of a model, with relationships (docs/contract.md §3)",
        description=(
            "`requested_data` lists columns, dotted paths and `{relationship: [...]}` trees; "
            "`query_filters` maps keys to conditions (`or-` prefix, `$or`/`$and`/`$not` groups). "
            "Default order `id DESC`; `cursor` (an id) pages, or `order_by` with the envelope's "
            "opaque `next_cursor`. A read that matches nothing is a 200 with `body: []`."
        ),
        tag="data",
        success=200,
        success_message="Data acquired.",
        model=GetItemsRequest,
        examples={
            "contract": {"summary": "The contract example (docs/contract.md §3)", "value": GET_ITEMS_EXAMPLE},
            "ordered": {
                "summary": "Nested groups, order_by and a total count",
                "value": GET_ITEMS_ORDERED_EXAMPLE,
            },
        },
        success_body=[
            {
                "id": 1873,
                "article_number": "2512-0042",
                "dealer": {"dealer_name": "Anna Berg", "id": 7},
                "notes": [{"subject": {"subject": "Condition"}}],
            }
        ],
        success_extra={"next_cursor": None},
    ),
    ("POST", "/api/schemes/create_items"): Operation(
        operation_id="create_items",
        summary="Create rows, with relationship actions (docs/contract.md §4.1, §4.4)",
        description=(
            "One request or a JSON array of them (a batch, one transaction). `object_values` is one "
            "row or a list of rows; relationships take `{action: link | unlink | create | "
            "create_through_rel, ...}`. `body` holds one list per request of a batch."
        ),
        tag="data",
        success=201,
        success_message="Item created!",
        model=CreateRequest,
        body="batch",
        examples={
            "link": {
                "summary": "Create an Item and link its Dealer (created if none)",
                "value": CREATE_LINK_EXAMPLE,
            },
            "batch": {
                "summary": "A batch: a subject, then a note linked to it",
                "value": CREATE_BATCH_EXAMPLE,
            },
        },
        success_body=[_ROW],
        keyed=True,
    ),
    ("POST", "/api/schemes/update_items"): Operation(
        operation_id="update_items",
        summary="Update the first or all matching rows (docs/contract.md §4.2)",
        description=(
            "`update_type` is `first_match` (first row in the default order) or `all_matches`. "
            "`query_filters` must be non-empty unless `allow_all` is true. Nothing matched: 404. "
            "With `if_match: {row_version: N}` (first_match only, §4.7) the matched row is written "
            "only if it is still at version N; else 409 `RowChanged` with the row as it is now in "
            "`body`, and nothing of the request is written. "
            "The same function runs scheduled updates (not over HTTP): their input is this request "
            "with a top-level `run_id` beside its keys, run once per `run_id` (docs/contract.md §8)."
        ),
        tag="data",
        success=201,
        success_message="Item updated!",
        model=UpdateRequest,
        body="batch",
        examples={
            "first_match": {
                "summary": "Mark the first matching Item sold and record its history",
                "value": UPDATE_FIRST_MATCH_EXAMPLE,
            },
            "if_match": {
                "summary": "Change the valuation only if nobody changed the Item since version 3",
                "value": UPDATE_IF_MATCH_EXAMPLE,
            },
        },
        success_body=[{"id": 1874, "state": "Completed", "sold_price": 900}],
        keyed=True,
    ),
    ("POST", "/api/schemes/delete_items"): Operation(
        operation_id="delete_items",
        summary="Delete the first or all matching rows (docs/contract.md §4.3)",
        description=(
            "`deletion_type` is `delete_first` or `delete_all` (the legacy spelling `delition_type` "
            "is accepted); `also_do` is applied to each row just before it is deleted. Nothing "
            "matched: 404. With `if_match: {row_version: N}` (delete_first only, §4.7) the row is "
            "deleted only if it is still at version N; else 409 `RowChanged` with its `id` and "
            "`row_version` in `body`."
        ),
        tag="data",
        success=201,
        success_message="Note deleted!",
        model=DeleteRequest,
        body="batch",
        examples={
            "deletion_type": {"summary": "Delete one note by id", "value": DELETE_EXAMPLE},
            "if_match": {
                "summary": "Delete the note only if it is still at version 2",
                "value": DELETE_IF_MATCH_EXAMPLE,
            },
            "legacy": {
                "summary": "Legacy `delition_type`, with a relative time",
                "value": DELETE_LEGACY_EXAMPLE,
            },
        },
        keyed=True,
    ),
    ("POST", "/api/login"): Operation(
        operation_id="login",
        summary="Log in: email and password for a Cognito ID token (docs/contract.md §7)",
        description=(
            "No token needed. Any failure (unknown email, wrong password, disabled user) is one "
            "401. Send the returned `token` as `Authorization: Bearer <token>` on every other route."
        ),
        tag="session",
        success=200,
        success_message="Logged in.",
        model=session.LoginRequest,
        examples={"login": {"summary": "Log in (make dev prints the demo users)", "value": LOGIN_EXAMPLE}},
        success_body=[
            {
                "token": "eyJraWQiOi...",
                "payload": {
                    "username": "admin",
                    "roles": [{"role": "Admin", "id": 1}],
                    "profile_picture": None,
                },
            }
        ],
    ),
    ("POST", "/api"): Operation(
        operation_id="me",
        summary="Who am I: the caller's own User row (docs/contract.md §7)",
        description="Without a body (or `{}`): the default shape; with `requested_data`: shaped by it.",
        tag="session",
        success=200,
        success_message="Data acquired.",
        model=session.MeRequest,
        body="optional",
        examples={
            "default": {"summary": "The default shape", "value": {}},
            "shaped": {"summary": "Shaped by requested_data", "value": ME_SHAPED_EXAMPLE},
        },
        success_body=[_ME],
    ),
    ("POST", "/api/logout"): Operation(
        operation_id="logout",
        summary="Log out: sign out everywhere, older ID tokens are refused (docs/contract.md §7)",
        description="No body. Afterwards the caller's older ID tokens get 403 like a rejected token.",
        tag="session",
        success=200,
        success_message="Logged out.",
        body="none",
    ),
    ("POST", "/api/generate-presigned-url"): Operation(
        operation_id="generate_presigned_url",
        summary="Presigned PUT URLs for uploads (docs/contract.md §6)",
        description=(
            "A JSON array of `{fileName, filePath, fileType}`; `body` answers `{fileName, url}` in "
            "request order. All or nothing: one bad entry (or a repeated `fileName`) is a 400 and "
            "nothing is signed. A presigned PUT cannot limit the object size."
        ),
        tag="files",
        success=200,
        success_message="Upload URLs signed.",
        model=file_ops.UploadEntry,
        body="list",
        examples={"upload": {"summary": "Two images of one item", "value": UPLOAD_EXAMPLE}},
        success_body=[
            {
                "fileName": "front.jpg",
                "url": "https://files-bucket.s3.amazonaws.com/PurchaseAppReact/2512-0042/front-...jpg?X-Amz-...",
            }
        ],
    ),
    ("POST", "/api/delete-image-url"): Operation(
        operation_id="delete_image_url",
        summary="Delete uploaded objects (docs/contract.md §6)",
        description=(
            "Keys or URLs of the project's bucket in any form. All are checked first; any entry "
            "outside the bucket or its prefixes, or not permitted, is a 400 and nothing is "
            "deleted. `body` is the canonical keys deleted."
        ),
        tag="files",
        success=200,
        success_message="Files deleted.",
        model=file_ops.DeleteFilesRequest,
        component="DeleteFilesRequest",
        examples={"delete": {"summary": "Delete one uploaded image", "value": DELETE_FILES_EXAMPLE}},
        success_body=["PurchaseAppReact/2512-0042/front-1a2b3c4d5e6f.jpg"],
        keyed=True,
    ),
}

TAGS = [
    {
        "name": "data",
        "description": "The four data routes over the registered models (docs/contract.md §3, §4).",
    },
    {
        "name": "session",
        "description": "Log in, who am I, log out, for existing clients (docs/contract.md §7).",
    },
    {"name": "files", "description": "Uploads and deletions in the files bucket (docs/contract.md §6)."},
    {"name": "other", "description": "Routes of template.yaml this document has no description for."},
]

# Error responses (docs/contract.md §2, §7): (component name, status, description, example message, server_message).
ERRORS: list[tuple[str, int, str, str, str]] = [
    (
        "BadRequest",
        400,
        "Malformed request, validation failure, unknown model or field, bad operator, wrong value "
        "type, a limit exceeded (`per_page`, batch size, response size).",
        "'model_name' is required.",
        "MalformedRequest field=model_name at /model_name",
    ),
    (
        "Unauthorized",
        401,
        "Login failed (one generic message), or a handler was reached without claims. With the "
        "template parameter `RejectedTokenStatus` set to 401, a rejected token too.",
        "Wrong email or password.",
        "Unauthenticated LoginFailed",
    ),
    (
        "Forbidden",
        403,
        "A rejected ID token (missing, malformed, bad signature, expired, or older than the last "
        "logout; status from `RejectedTokenStatus`, default 403: log in again), an unknown user, or "
        "a refusal by the access policy (no role, a field or operation not granted, named; "
        "`server_message` starts with `PolicyRefusal`, status from `PolicyRefusalStatus`, default "
        "403, 400 in the shipped stages).",
        "",  # taken from the template's UNAUTHORIZED gateway response
        "UNAUTHORIZED",
    ),
    (
        "NotFound",
        404,
        "Nothing matched an update or delete, or no such route or method.",
        "No Item matched the filters.",
        "NotFound model=Item at /query_filters",
    ),
    (
        "Conflict",
        409,
        "A unique or foreign-key conflict, naming the field and value; or `RowChanged`: an `if_match` "
        "named a `row_version` the row no longer has, nothing was written, and `body` holds the row "
        "as it is now (its `requested_data`, else its `id` and `row_version`).",
        "The value 'anna@beyo.se' for field 'email' already exists.",
        "Conflict UniqueViolation field=email constraint=User_email_key",
    ),
    (
        "ServiceUnavailable",
        503,
        "The database (or the user directory) is unavailable or timed out; safe to retry.",
        "The database is not available right now; try again shortly.",
        "Unavailable DatabaseUnavailable",
    ),
]


# Idempotency keys (docs/contract.md §4.6): the header a keyed route takes, the header of a replay,
# and the error only keyed requests meet (409 IdempotencyKeyInProgress is among the 409s above).
IDEMPOTENCY_KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEYED_ERRORS: list[tuple[str, int, str, str, str]] = [
    (
        "IdempotencyKeyReused",
        422,
        "The `Idempotency-Key` was sent before with a different body: nothing ran; send a new key.",
        "This Idempotency-Key was used with a different request body; send a new key.",
        "IdempotencyKeyReused field=Idempotency-Key",
    ),
]
IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": IDEMPOTENCY_KEY,
    "in": "header",
    "required": False,
    "description": (
        "Optional. 1-255 visible ASCII characters (else 400). The first 2xx answer for this key "
        "(per caller and route) is stored with the write and replayed, without running anything, "
        "to the same key and body for IDEMPOTENCY_TTL_HOURS (24), with `Idempotent-Replayed: true` "
        "and the replay's own request_id. Another body: 422. While the first request runs, a second "
        "waits for it, or answers 409 `IdempotencyKeyInProgress` past the statement timeout. "
        "Answers that are not 2xx are not stored (docs/contract.md §4.6)."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "example": "7f3a9c1e-0b6c-4c11-9d35-3f1e2a7b9c01",
}


# ---- building ---------------------------------------------------------------------------------


def _hoist(name: str, model: type[BaseModel], schemas: dict[str, Any]) -> None:
    """Add the model's schema under `name`, its `$defs` beside it (a clash of names is an error)."""
    schema = model.model_json_schema(ref_template=REF)
    if name != model.__name__:  # a component named apart from its model: UIs show the title, keep it unique
        schema["title"] = name
    for def_name, definition in schema.pop("$defs", {}).items():
        _put(schemas, def_name, definition)
    _put(schemas, name, schema)


def _put(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    if name in schemas and schemas[name] != schema:
        raise ValueError(f"two different schemas are named {name!r} in components")
    schemas[name] = schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _request_body(op: Operation) -> dict[str, Any] | None:
    if op.body == "none" or op.model is None:
        return None
    one = _ref(op.schema_name)
    schema: dict[str, Any]
    if op.body == "batch":
        batch = {"type": "array", "items": one, "minItems": 1, "title": f"{op.schema_name} batch"}
        schema = {"oneOf": [one, batch]}
    elif op.body == "list":
        schema = {"type": "array", "items": one, "minItems": 1}
    else:
        schema = one
    content: dict[str, Any] = {"schema": schema}
    if op.examples:
        content["examples"] = copy.deepcopy(op.examples)
    return {"required": op.body != "optional", "content": {"application/json": content}}


def _envelope_example(
    status: int, message: str, body: list[Any], server_message: str = "", **extra: Any
) -> dict[str, Any]:
    return {
        "status": status,
        "message": message,
        "body": body,
        "server_message": server_message,
        **extra,
        "request_id": EXAMPLE_REQUEST_ID,
    }


def _success(op: Operation) -> dict[str, Any]:
    example = _envelope_example(
        op.success, op.success_message, copy.deepcopy(op.success_body), **op.success_extra
    )
    headers = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
    if op.keyed:
        headers[REPLAYED] = {"$ref": f"#/components/headers/{REPLAYED}"}
    return {
        "description": op.success_message,
        "headers": headers,
        "content": {"application/json": {"schema": _ref("Envelope"), "example": example}},
    }


def _error_responses(template: dict[str, Any]) -> dict[str, Any]:
    gateway = gateway_responses(template)
    rejected = json.loads(gateway_response(gateway, "UNAUTHORIZED").render(EXAMPLE_REQUEST_ID))
    out: dict[str, Any] = {}
    for name, status, description, message, server_message in ERRORS + KEYED_ERRORS:
        if status == 403:
            example = {**rejected, "status": 403}
        else:
            example = _envelope_example(status, message, [], server_message)
        out[name] = {
            "description": description,
            "content": {"application/json": {"schema": _ref("Envelope"), "example": example}},
        }
    return out


def _generic(route: Route, method: str) -> Operation:
    ident = re.sub(r"[^A-Za-z0-9]+", "_", f"{method} {route.path}").strip("_").lower()
    return Operation(
        operation_id=ident,
        summary=f"{method} {route.path}",
        description=f"Served by {route.function}.",
        tag="other",
        success=200,
        success_message="OK",
        body="none",
    )


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{([^}+]+)\+?\}", path)
    ]


def _version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def build(template_path: Path | str = TEMPLATE) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the routes of the template at `template_path`."""
    template = load_template(template_path)
    stage = str(((template.get("Parameters") or {}).get("Stage") or {}).get("Default", "dev"))
    schemas: dict[str, Any] = {}
    _hoist("Envelope", Envelope, schemas)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes(template):
        methods = ["DELETE", "GET", "PATCH", "POST", "PUT"] if route.method == "ANY" else [route.method]
        for method in methods:
            known = OPERATIONS.get((route.method, route.path))
            op = known or _generic(route, method)
            if op.model is not None:
                _hoist(op.schema_name, op.model, schemas)
            operation: dict[str, Any] = {
                "operationId": op.operation_id
                + (f"_{method.lower()}" if known and route.method == "ANY" else ""),
                "summary": op.summary,
                "description": op.description,
                "tags": [op.tag],
                "security": [{SECURITY_SCHEME: []}] if route.authorized else [],
            }
            params = _path_parameters(route.path)
            if op.keyed:
                params.append({"$ref": f"#/components/parameters/{IDEMPOTENCY_KEY}"})
            if params:
                operation["parameters"] = params
            if (body := _request_body(op)) is not None:
                operation["requestBody"] = body
            responses = {str(op.success): _success(op)}
            for name, status, *_ in ERRORS + (KEYED_ERRORS if op.keyed else []):
                responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
            operation["responses"] = dict(sorted(responses.items()))
            path = re.sub(r"\{([^}]+)\+\}", r"{\1}", route.path)
            paths.setdefault(path, {})[method.lower()] = operation
    used_tags = {op["tags"][0] for item in paths.values() for op in item.values()}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Dynamic data API",
            "version": _version(),
            "summary": "A generic JSON data API over SQLAlchemy models (docs/contract.md §1).",
            "description": (
                "Every response body, success or error, is the envelope "
                "`{status, message, body, server_message}` (plus `request_id`, and `next_cursor` / "
                "`count` on reads). Every route but `POST /api/login` needs a Cognito ID token in "
                "the `Authorization` header (`Bearer <token>`): get one from `POST /api/login`, or "
                "locally with `make token`."
            ),
        },
        "servers": [
            {"url": "/", "description": "Where this document is served from (the local gateway: make dev)"},
            {"url": "http://127.0.0.1:8080", "description": "The local gateway (make dev)"},
            {
                "url": "https://{apiId}.execute-api.{region}.amazonaws.com/{stage}",
                "description": "A deployed stage",
                "variables": {
                    "apiId": {"default": "your-api-id", "description": "The REST API's id"},
                    "region": {"default": "eu-north-1"},
                    "stage": {"default": stage, "description": "The template parameter Stage"},
                },
            },
        ],
        "tags": [t for t in TAGS if t["name"] in used_tags],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": _error_responses(template),
            "parameters": {IDEMPOTENCY_KEY: IDEMPOTENCY_PARAMETER},
            "headers": {
                "X-Request-Id": {
                    "description": "The request id, also in the envelope's `request_id` and the logs.",
                    "schema": {"type": "string"},
                },
                REPLAYED: {
                    "description": (
                        "`true` on the stored answer of an earlier request with the same "
                        "`Idempotency-Key`, replayed (absent otherwise)."
                    ),
                    "schema": {"type": "string", "enum": ["true"]},
                },
            },
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "A Cognito user pool ID token (not the access token) in the `Authorization` "
                        "header, checked by API Gateway's Cognito authorizer. From `POST /api/login` "
                        "or `make token`."
                    ),
                }
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# ---- serving (the local gateway) --------------------------------------------------------------

_ASSET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".map": "application/json", ".html": "text/html"}


def swagger_ui_dir() -> Path | None:
    """Swagger UI's dist files as the `swagger-ui-py` package ships them (found, not imported)."""
    spec = importlib.util.find_spec("swagger_ui")
    for location in (spec.submodule_search_locations or []) if spec else []:
        static = Path(location) / "static"
        if (static / "swagger-ui-bundle.js").is_file() and (static / "swagger-ui.css").is_file():
            return static
    return None


@lru_cache(maxsize=4)
def _document_json(template_path: str) -> bytes:
    return render(build(template_path)).encode()


_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Dynamic data API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <noscript><p><a href="/openapi.json">openapi.json</a></p></noscript>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
                                 persistAuthorization: true, displayRequestDuration: true});
  </script>
</body>
</html>
"""


def _plain_page(document: dict[str, Any]) -> str:
    rows = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            auth = "ID token" if op["security"] else "none"
            rows.append(
                f"<tr><td>{method.upper()}</td><td><code>{html.escape(path)}</code></td>"
                f"<td>{auth}</td><td>{html.escape(op['summary'])}</td></tr>"
            )
    return (
        '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Dynamic data API</title></head>\n'
        "<body>\n<h1>Dynamic data API</h1>\n"
        '<p>The OpenAPI 3.1 document: <a href="/openapi.json">/openapi.json</a>. '
        "(Swagger UI is shown here when the <code>swagger-ui-py</code> package is installed.)</p>\n"
        "<table>\n<tr><th>method</th><th>path</th><th>auth</th><th>what</th></tr>\n"
        + "\n".join(rows)
        + "\n</table>\n</body>\n</html>\n"
    )


def docs_response(path: str, template_path: Path | str = TEMPLATE) -> tuple[int, str, bytes] | None:
    """(status, content type, body) for GET /openapi.json, /docs and /docs/<asset>; None otherwise."""
    if path == "/openapi.json":
        return 200, "application/json", _document_json(str(template_path))
    if path in ("/docs", "/docs/", "/docs/index.html"):
        if swagger_ui_dir() is not None:
            return 200, "text/html; charset=utf-8", _SWAGGER_PAGE.encode()
        document = json.loads(_document_json(str(template_path)))
        return 200, "text/html; charset=utf-8", _plain_page(document).encode()
    if path.startswith("/docs/"):
        name = path[len("/docs/") :]
        static = swagger_ui_dir()
        if static is None or not _ASSET.match(name) or not (static / name).is_file():
            return None
        suffix = Path(name).suffix
        content_type = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return 200, content_type, (static / name).read_bytes()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.openapi", description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the document to this file (default: stdout)")
    parser.add_argument("--template", default=str(TEMPLATE), help="the SAM template (default: template.yaml)")
    args = parser.parse_args(argv)
    text = render(build(args.template))
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
