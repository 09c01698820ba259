"""The access policy (SPEC §7) through the real handlers, in-process, on committed seed data.

Every test gets a fresh migrated database holding `tests/fixtures/seed.py` plus two users, with
Cognito subjects for the callers:

    | id | user  | roles         | cognito_sub     | used as                         |
    |----|-------|---------------|-----------------|---------------------------------|
    | 1  | admin | Admin         | seed-sub-admin  | Admin                           |
    | 2  | anna  | Buyer         | policy-sub-anna | Buyer                           |
    | 3  | erik  | Buyer, Viewer | policy-sub-erik | Buyer + a role without grants   |
    | 4  | nora  | (none)        | policy-sub-nora | a known user without roles      |
    | 5  | vera  | Viewer        | policy-sub-vera | only a role without grants      |
    | 6  | olle  | Buyer         | (none)          | found by email; deletable       |

Requests are API Gateway REST events (`support.event`, by default sending the request bodies
`bodies/policy_*.json`) whose authorizer claims are the caller's (`sub`, `email`,
`cognito:username`, `auth_time`; all strings). Every response is checked for the envelope; every
refusal is checked to have written nothing (every table compared row by row before and after). Cognito is not configured here (no user pool): User writes that need
it answer 503.

The expectations are written from SPEC §7, not derived from policy.json, so a policy file that
drifts from the SPEC fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from dataapi.identity import cognito
from dataapi.models import Role, User
from tests.fixtures.seed import seed
from tests.handler import support
from tests.handler.support import Reply

pytestmark = pytest.mark.db

ROUTES = ("get_items", "create_items", "update_items", "delete_items")
PATHS = {**{route: f"/api/schemes/{route}" for route in ROUTES}, "session_me": "/api"}
FUNCTIONS = {**{route: route for route in ROUTES}, "session_me": "session"}
ROUTE_OF = {"get": "get_items", "create": "create_items", "update": "update_items", "delete": "delete_items"}
ROUTE_OF_OP = {route: op for op, route in ROUTE_OF.items()}
OPS = ("get", "create", "update", "delete")
MODELS = (
    "User",
    "Role",
    "Item",
    "Item_Note",
    "Item_Notes_Subject",
    "Item_History",
    "Dealer",
    "Dealer_History",
    "Dealer_Notes",
)
TABLES = (*MODELS, "user_roles", "Items_Notes")

# `auth_time` of the event files: 2025-12-05 13:05:00 UTC.
AUTH_TIME = 1764939900


# ---- the callers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Who:
    name: str
    id: int
    email: str
    sub: str | None
    roles: tuple[str, ...]


ADMIN = Who("admin", 1, "admin@example.com", "seed-sub-admin", ("Admin",))
ANNA = Who("anna", 2, "anna@beyo.se", "policy-sub-anna", ("Buyer",))
ERIK = Who("erik", 3, "erik@example.com", "policy-sub-erik", ("Buyer", "Viewer"))
NORA = Who("nora", 4, "nora@example.com", "policy-sub-nora", ())
VERA = Who("vera", 5, "vera@example.com", "policy-sub-vera", ("Viewer",))
OLLE = Who("olle", 6, "Olle.Berg@Example.com", None, ("Buyer",))
PEOPLE = (ADMIN, ANNA, ERIK, NORA, VERA, OLLE)
USER_COUNT = len(PEOPLE)


def claims_of(who: Who, **changes: str | None) -> dict[str, str]:
    """The claims API Gateway's Cognito authorizer passes for `who` (a `None` change drops a claim)."""
    sub = who.sub or f"policy-sub-{who.name}-new"
    claims = {
        "sub": sub,
        "email_verified": "true",
        "iss": "https://cognito-idp.eu-north-1.amazonaws.com/eu-north-1_Example01",
        "cognito:username": sub,
        "aud": "4example5client6id7abcdefgh",
        "token_use": "id",
        "auth_time": str(AUTH_TIME),
        "exp": "Fri Dec 05 21:45:00 UTC 2025",
        "iat": "Fri Dec 05 13:45:00 UTC 2025",
        "email": who.email.lower(),
    }
    for key, value in changes.items():
        key = key.replace("cognito_", "cognito:")
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


# ---- the database ----------------------------------------------------------------------------


@dataclass
class World:
    engine: Engine

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def count(self, table: str) -> int:
        return self.scalar(f'SELECT count(*) FROM "{table}"')

    def snapshot(self) -> dict[str, list[str]]:
        """Every row of every table, as JSON text, in a stable order."""
        with self.engine.connect() as conn:
            return {
                t: list(conn.execute(text(f'SELECT row_to_json(t)::text FROM "{t}" t ORDER BY 1')).scalars())
                for t in TABLES
            }

    def roles_of(self, user_id: int) -> list[str]:
        return [
            r[0]
            for r in self.rows(
                'SELECT r.role FROM user_roles ur JOIN "Role" r ON r.id = ur.role_id '
                "WHERE ur.user_id = :u ORDER BY r.id",
                u=user_id,
            )
        ]

    def user(self, user_id: int) -> dict[str, Any]:
        row = self.rows(
            'SELECT username, email, phone, profile_picture, metafields, cognito_sub FROM "User" WHERE id = :i',
            i=user_id,
        )
        keys = ("username", "email", "phone", "profile_picture", "metafields", "cognito_sub")
        return dict(zip(keys, row[0], strict=True)) if row else {}


@pytest.fixture(autouse=True)
def no_cognito(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No user pool, whatever the machine's environment says; a region as Lambda always has one."""
    for name in ("COGNITO_USER_POOL_ID", "COGNITO_APP_CLIENT_ID", "FILES_BUCKET", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-north-1")
    cognito.client.cache_clear()
    yield
    cognito.client.cache_clear()


@pytest.fixture
def world(api_env: str) -> Iterator[World]:
    """The seed, committed, with Cognito subjects for the callers and two more users (vera, olle)."""
    engine = create_engine(api_env)
    with Session(engine) as session, session.begin():
        seed(session)
        for who in (ANNA, ERIK, NORA):
            user = session.get(User, who.id)
            assert user is not None and user.username == who.name
            user.cognito_sub = who.sub
        roles = {role.role: role for role in session.query(Role)}
        for who in (VERA, OLLE):
            session.add(
                User(
                    username=who.name,
                    email=who.email,
                    phone=f"+46 70 100 00 0{who.id}",
                    cognito_sub=who.sub,
                    roles=[roles[r] for r in who.roles],
                )
            )
    world = World(engine)
    for who in PEOPLE:
        assert world.roles_of(who.id) == list(who.roles), who
    yield world
    engine.dispose()


# ---- invoking --------------------------------------------------------------------------------

_FILE_BODY: Any = object()


def make_event(
    route: str, body: Any = _FILE_BODY, who: Who = ANNA, claims: dict[str, str] | None = None
) -> dict[str, Any]:
    """An event for `route` sending `body` (by default `bodies/policy_<route>.json`) with the
    claims of `who` (or `claims`)."""
    if body is _FILE_BODY:
        body = support.body(f"policy_{route}")
    return support.event(PATHS[route], body, claims=claims if claims is not None else claims_of(who))


def invoke(route: str, event: dict[str, Any]) -> Reply:
    """Invoke a handler as Lambda would and check the envelope every response must have."""
    return support.invoke(FUNCTIONS[route], event)


def call(route: str, body: Any = _FILE_BODY, who: Who = ANNA, claims: dict[str, str] | None = None) -> Reply:
    reply = invoke(route, make_event(route, body, who, claims))
    reply.request = body
    return reply


def succeeds(route: str, body: Any, who: Who = ANNA) -> Reply:
    reply = call(route, body, who)
    assert reply.status == (200 if route in ("get_items", "session_me") else 201), reply.envelope
    return reply


def forbidden(reply: Reply, *named: str, at: str | None = None) -> None:
    """403 whose message names every part of `named` and whose server_message says what and where."""
    assert reply.status == 403, reply.envelope
    assert reply.server_message.startswith("Forbidden"), reply.envelope
    for name in named:
        assert name in reply.message + " " + reply.server_message, (name, reply.envelope)
    if at is not None:
        assert reply.server_message.endswith(f" at {at}"), (at, reply.envelope)


def refused_model(reply: Reply, model: str, op: str) -> None:
    forbidden(reply, model, f"model={model} operation={op}")
    assert model in reply.message, reply.envelope


def refused_reaching(reply: Reply, model: str, op: str) -> None:
    """403 naming `model`: as the operation refused, or (a filter path into a model it may not
    read) as the field that may not be filtered on."""
    forbidden(reply, model)
    assert model in reply.message, reply.envelope
    assert f"model={model} operation={op}" in reply.server_message or (
        op == "get" and "operation=filter on" in reply.server_message
    ), reply.envelope


def refused_field(reply: Reply, name: str, at: str) -> None:
    forbidden(reply, f"field={name}", at=at)
    assert f"'{name}'" in reply.message, reply.envelope


def no_role(reply: Reply) -> None:
    forbidden(reply, "NoRoleAssigned")
    assert "no role is assigned" in reply.message.lower(), reply.envelope


# ---- request builders ------------------------------------------------------------------------


def read(model: str, requested: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"model_name": model, "requested_data": requested or ["id"], **extra}


def create(model: str, values: Any, requested: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    request = {"model_name": model, "object_values": values, **extra}
    if requested is not None:
        request["requested_data"] = requested
    return request


def update(
    model: str,
    filters: dict[str, Any],
    values: dict[str, Any],
    requested: list[Any] | None = None,
    update_type: str = "first_match",
    **extra: Any,
) -> dict[str, Any]:
    request = {
        "model_name": model,
        "query_filters": filters,
        "update_type": update_type,
        "object_values": values,
        **extra,
    }
    if requested is not None:
        request["requested_data"] = requested
    return request


def delete(model: str, filters: dict[str, Any], also_do: dict[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"query_filters": filters, "deletion_type": "delete_first"}
    if also_do is not None:
        values["also_do"] = also_do
    return {"model_name": model, "object_values": values}


def link(model: str, filters: dict[str, Any], link_type: str = "first_link", **extra: Any) -> dict[str, Any]:
    return {"action": "link", "values": {model: {"query_filters": filters, "link_type": link_type, **extra}}}


def through(values: dict[str, Any]) -> dict[str, Any]:
    return {"action": "create_through_rel", "values": values}


def create_rel(values: Any, **extra: Any) -> dict[str, Any]:
    return {"action": "create", "values": values, **extra}


def history_entry(column: str, old: Any, new: Any) -> dict[str, Any]:
    return {
        "column_name": column,
        "from_value": old,
        "to_value": new,
        "type": "update",
        "recorded_time": "2025-12-05T10:00:00Z",
    }


# ---- 1. every cell of the default policy -------------------------------------------------------

ALL = frozenset(OPS)
# SPEC §7, "Defaults": Admin everything; Buyer as listed; any other role (Viewer) nothing.
BUYER: dict[str, frozenset[str]] = {
    "User": frozenset({"get", "update"}),  # update: its own row only
    "Role": frozenset({"get"}),
    "Item": ALL,
    "Item_Note": ALL,
    "Item_History": ALL,
    "Item_Notes_Subject": frozenset({"get", "create"}),
    "Dealer": frozenset({"get", "create", "update"}),
    "Dealer_History": frozenset(),
    "Dealer_Notes": frozenset(),
}
CALLERS: dict[str, Who] = {
    "Admin": ADMIN,
    "Buyer": ANNA,
    "Buyer+Viewer": ERIK,
    "Viewer": VERA,
    "no role": NORA,
}
GRANTED: dict[str, dict[str, frozenset[str]]] = {
    "Admin": dict.fromkeys(MODELS, ALL),
    "Buyer": BUYER,
    "Buyer+Viewer": BUYER,
    "Viewer": {},
    "no role": {},
}


@dataclass(frozen=True)
class Cell:
    """A minimal request per operation on one model, each matching exactly one seed row."""

    read_id: int
    values: dict[str, Any]  # a row to create
    column: str  # the column an update changes
    value: Any
    update_id: int | None  # None: the caller's own row
    delete_id: int

    def request(self, model: str, op: str, who: Who) -> dict[str, Any]:
        if op == "get":
            return read(model, ["id"], query_filters={"id": self.read_id})
        if op == "create":
            return create(model, self.values, ["id"])
        if op == "update":
            return update(model, {"id": self.target(who)}, {self.column: self.value}, ["id"])
        return delete(model, {"id": self.delete_id})

    def target(self, who: Who) -> int:
        return who.id if self.update_id is None else self.update_id


CELLS: dict[str, Cell] = {
    # olle has no cognito_sub: deleting him needs no Cognito call.
    "User": Cell(2, {"username": "newbie", "email": "newbie@example.com", "phone": "+46 70 123 45 67"},
                 "phone", "+46 70 999 99 99", None, OLLE.id),
    "Role": Cell(2, {"role": "Auditor", "key": "auditor"}, "key", "viewers", 3, 3),
    "Item": Cell(1, {"article_number": "2601-001", "state": "In-Transit"}, "state", "Reserved", 1, 12),
    "Item_Note": Cell(1, {"note_content": "Legs need gluing."}, "note_content", "Edited.", 1, 6),
    "Item_Notes_Subject": Cell(1, {"subject": "Shipping"}, "subject", "Shape", 1, 3),
    "Item_History": Cell(1, {"column_name": "state", "to_value": "Sold"}, "type", "correction", 1, 1),
    "Dealer": Cell(1, {"dealer_name": "Nya Antik AB"}, "phone", "+46 40 00 00 00", 5, 5),
    "Dealer_History": Cell(1, {"column_name": "email"}, "column_name", "phone number", 1, 1),
    "Dealer_Notes": Cell(1, {"subject": "Visit", "content": "Visited on Monday."}, "content", "Closed Mondays.", 1, 1),
}  # fmt: skip


def check_granted(
    world: World, before: dict[str, list[str]], model: str, op: str, who: Who, reply: Reply
) -> None:
    cell = CELLS[model]
    if op == "get":
        assert reply.status == 200, reply.envelope
        assert reply.body == [{"id": cell.read_id}]
        assert world.snapshot() == before, "a read writes nothing"
        return
    assert reply.status == 201, reply.envelope
    if op == "create":
        assert reply.message == f"{model} created!"
        [row] = reply.body
        assert world.count(model) == len(before[model]) + 1
        columns = ", ".join(f'"{c}"' for c in cell.values)
        stored = world.rows(f'SELECT {columns} FROM "{model}" WHERE id = :i', i=row["id"])
        assert stored == [tuple(cell.values.values())]
        if model == "User":  # a User created without a roles action gets the default roles
            assert world.roles_of(row["id"]) == ["Buyer"]
    elif op == "update":
        assert reply.message == f"{model} updated!"
        assert reply.body == [{"id": cell.target(who)}]
        value = world.scalar(f'SELECT "{cell.column}" FROM "{model}" WHERE id = :i', i=cell.target(who))
        assert value == cell.value
        assert world.count(model) == len(before[model])
    else:
        assert reply.message == f"{model} deleted!"
        assert reply.body == []
        assert world.scalar(f'SELECT count(*) FROM "{model}" WHERE id = :i', i=cell.delete_id) == 0
        assert world.count(model) == len(before[model]) - 1


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("role", CALLERS)
def test_default_policy_cell(world: World, role: str, model: str, op: str) -> None:
    """GIVEN a caller holding `role` WHEN it sends a minimal `op` request on `model` matching one row
    THEN a granted cell succeeds and does exactly that; a refused cell is 403 naming the model and
    the operation (or, without any role, saying no role is assigned) and writes nothing."""
    who = CALLERS[role]
    before = world.snapshot()

    reply = call(ROUTE_OF[op], CELLS[model].request(model, op, who), who)

    if op in GRANTED[role].get(model, frozenset()):
        check_granted(world, before, model, op, who, reply)
        return
    if role == "no role":
        no_role(reply)
    else:
        refused_model(reply, model, op)
    assert world.snapshot() == before


def test_policy_event_files_as_sent_by_a_buyer(world: World) -> None:
    """GIVEN the four policy_* request bodies as they are, sent by anna WHEN each is invoked in turn
    THEN read, create, update and delete all succeed for the Buyer."""
    assert call("get_items").body == [
        {"id": 1, "article_number": "2511-001", "dealer": {"id": 1, "dealer_name": "Gamla Stans Antik"}}
    ]
    created = call("create_items")
    assert created.status == 201, created.envelope
    assert created.body == [{"id": 13, "article_number": "2601-001", "created_by": "anna"}]
    updated = call("update_items")
    assert (updated.status, updated.body) == (201, [{"id": 1, "state": "In-Stock"}])
    deleted = call("delete_items")
    assert (deleted.status, deleted.message) == (201, "Note deleted!")
    assert world.scalar('SELECT count(*) FROM "Item_Note" WHERE id = 6') == 0


# ---- 1b. User writes that need Cognito: 503, nothing written -----------------------------------

NEEDS_COGNITO: dict[str, tuple[Who, str, dict[str, Any]]] = {
    "admin creates a user with a password": (
        ADMIN,
        "create_items",
        create(
            "User",
            {"username": "pia", "email": "pia@example.com", "phone": "+46 70 1", "password": "Secret-pass-123"},
            ["id"],
        ),
    ),
    "admin sets another user's password": (
        ADMIN,
        "update_items",
        update("User", {"id": ANNA.id}, {"password": "Secret-pass-123"}),
    ),
    "admin changes another user's email": (
        ADMIN,
        "update_items",
        update("User", {"id": ANNA.id}, {"email": "anna.lind@example.com"}),
    ),
    "admin deletes a user with a sign-in account": (ADMIN, "delete_items", delete("User", {"id": ERIK.id})),
    "buyer sets its own password": (ANNA, "update_items", update("User", {"id": ANNA.id}, {"password": "Secret-pass-123"})),
    "buyer changes its own email": (ANNA, "update_items", update("User", {"id": ANNA.id}, {"email": "anna.lind@example.com"})),
    "buyer changes its own email and phone": (
        ANNA,
        "update_items",
        update("User", {"id": ANNA.id}, {"phone": "+46 70 2", "email": "anna.lind@example.com"}),
    ),
}  # fmt: skip


@pytest.mark.parametrize(("who", "route", "request_body"), NEEDS_COGNITO.values(), ids=NEEDS_COGNITO.keys())
def test_user_writes_that_need_cognito_are_503_not_configured(
    world: World, who: Who, route: str, request_body: dict[str, Any]
) -> None:
    """GIVEN no user pool is configured WHEN a granted User write needs Cognito (a password, an email
    change, deleting a user with a sign-in account) THEN 503 "user directory not configured" and
    the database is as before (the flushed row work is rolled back)."""
    before = world.snapshot()

    reply = call(route, request_body, who)

    assert reply.status == 503, reply.envelope
    assert "not configured" in reply.message.lower(), reply.envelope
    assert world.snapshot() == before


def test_user_write_with_password_without_any_aws_environment_says_not_configured(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GIVEN only DATABASE_URL is set (no region, no AWS config) WHEN Admin creates a user with a
    password THEN 503 with the message that the user directory is not configured, nothing written."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    cognito.client.cache_clear()
    before = world.snapshot()

    reply = call("create_items", NEEDS_COGNITO["admin creates a user with a password"][2], ADMIN)

    assert reply.status == 503, reply.envelope
    assert world.snapshot() == before
    assert "not configured" in reply.message.lower(), reply.envelope


# ---- 2. field-level grants -----------------------------------------------------------------------

FIELD_REFUSALS: dict[str, tuple[dict[str, Any], str, str]] = {
    # (request, the forbidden name, JSON pointer)
    "User.metafields read": (read("User", ["id", "metafields"]), "metafields", "/requested_data/1"),
    "User.cognito_sub read": (read("User", ["id", "username", "cognito_sub"]), "cognito_sub", "/requested_data/2"),
    "User.tokens_valid_after read": (read("User", ["tokens_valid_after"]), "tokens_valid_after", "/requested_data/0"),
    "Role.key read": (read("Role", ["id", "role", "key"]), "key", "/requested_data/2"),
    "Role.metafields read": (read("Role", ["metafields"]), "metafields", "/requested_data/0"),
    "User roles.key dotted read": (read("User", ["id", "roles.key"]), "key", "/requested_data/1"),
    "User {roles: [key]} read": (read("User", ["id", {"roles": ["id", "key"]}]), "key", "/requested_data/1/roles/1"),
    "Role {users: [...]} read": (read("Role", ["id", {"users": ["id"]}]), "users", "/requested_data/1/users"),
    "Role users.username read": (read("Role", ["role", "users.username"]), "users", "/requested_data/1"),
    "User filter metafields.x": (read("User", query_filters={"metafields.x": 1}), "metafields", "/query_filters/metafields.x"),
    "User filter cognito_sub": (read("User", query_filters={"cognito_sub": "seed-sub-admin"}), "cognito_sub", "/query_filters/cognito_sub"),
    "User filter roles.key": (read("User", query_filters={"roles.key": "admin"}), "key", "/query_filters/roles.key"),
    "User filter in an or- group": (
        read("User", query_filters={"or-username": "anna", "or-tokens_valid_after": {"operation": "is_null"}}),
        "tokens_valid_after",
        "/query_filters/or-tokens_valid_after",
    ),
    "User filter in a $or group": (
        read("User", query_filters={"$or": [{"username": "anna"}, {"roles.key": "admin"}]}),
        "key",
        "/query_filters/$or/1/roles.key",
    ),
    "User filter under $not": (
        read("User", query_filters={"$not": {"metafields": {"operation": "not_null"}}}),
        "metafields",
        "/query_filters/$not/metafields",
    ),
    "Role filter users.id": (read("Role", query_filters={"users.id": 2}), "users", "/query_filters/users.id"),
    "User filter roles.users.metafields": (
        read("User", query_filters={"roles.users.metafields.vip": True}), "users", "/query_filters/roles.users.metafields.vip",
    ),
    "User order_by tokens_valid_after": (read("User", order_by=["-tokens_valid_after"]), "tokens_valid_after", "/order_by/0"),
    "Role order_by key": (read("Role", order_by=["key"]), "key", "/order_by/0"),
}  # fmt: skip


@pytest.mark.parametrize("who", [ANNA, ERIK], ids=["Buyer", "Buyer+Viewer"])
@pytest.mark.parametrize(("request_body", "name", "at"), FIELD_REFUSALS.values(), ids=FIELD_REFUSALS.keys())
def test_buyer_reading_or_filtering_a_field_outside_its_grant_is_403(
    world: World, who: Who, request_body: dict[str, Any], name: str, at: str
) -> None:
    """GIVEN a Buyer WHEN it reads, filters or orders on a User or Role field outside
    (id, username, email, phone, profile_picture, roles) / (id, role) THEN 403 naming the field with a
    JSON pointer to the request part, never the rows with the field silently dropped."""
    reply = call("get_items", request_body, who)

    refused_field(reply, name, at)


MODEL_REFUSALS_IN_READS: dict[str, tuple[dict[str, Any], str, str]] = {
    # (request, the model no grant lets the Buyer read, pointer)
    "Dealer {dealer_notes: [...]}": (read("Dealer", ["id", {"dealer_notes": ["id"]}]), "Dealer_Notes", "/requested_data/1/dealer_notes"),
    "Dealer dealer_history.column_name": (read("Dealer", ["dealer_history.column_name"]), "Dealer_History", "/requested_data/0"),
    "Item dealer.dealer_notes.content": (read("Item", ["id", "dealer.dealer_notes.content"]), "Dealer_Notes", "/requested_data/1"),
    "Dealer filter dealer_notes.subject": (
        read("Dealer", query_filters={"dealer_notes.subject": "Opening"}),
        "Dealer_Notes",
        "/query_filters/dealer_notes.subject",
    ),
    "Item filter dealer.dealer_history.column_name": (
        read("Item", query_filters={"or-state": "Sold", "or-dealer.dealer_history.column_name": "phone"}),
        "Dealer_History",
        "/query_filters/or-dealer.dealer_history.column_name",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("request_body", "model", "at"), MODEL_REFUSALS_IN_READS.values(), ids=MODEL_REFUSALS_IN_READS.keys()
)
def test_buyer_reaching_a_model_without_a_read_grant_through_a_relationship_is_403(
    world: World, request_body: dict[str, Any], model: str, at: str
) -> None:
    """GIVEN a Buyer (no grant on Dealer_Notes or Dealer_History) WHEN a read reaches one of them
    through a relationship, in requested_data or in a filter THEN 403 naming that model and `get`."""
    reply = call("get_items", request_body, ANNA)

    refused_reaching(reply, model, "get")
    assert reply.server_message.endswith(f" at {at}"), reply.envelope


@pytest.mark.parametrize(
    ("model", "filters"),
    [
        ("Dealer", {"dealer_notes": {"operation": "not_null"}}),
        ("Item", {"dealer.dealer_history": {"operation": "is_null"}}),
    ],
    ids=["Dealer.dealer_notes not_null", "Item dealer.dealer_history is_null"],
)
def test_buyer_testing_existence_of_rows_of_a_model_without_a_read_grant_is_403(
    world: World, model: str, filters: dict[str, Any]
) -> None:
    """GIVEN a Buyer WHEN it filters on a bare relationship to a model it may not read
    (is_null / not_null) THEN 403 naming that model, as any other filter path into it is."""
    reply = call("get_items", read(model, query_filters=filters), ANNA)

    forbidden(reply)
    assert "Dealer_" in reply.message + reply.server_message, reply.envelope


ALLOWED_READS: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "Item filter notes.items.id": (read("Item", query_filters={"notes.items.id": 1}), [{"id": 5}, {"id": 2}, {"id": 1}]),
    "User filter roles.role": (read("User", query_filters={"roles.role": "Admin"}), [{"id": 1}]),
    "User filter roles.id in an or- group": (
        read("User", query_filters={"or-roles.id": 1, "or-username": "nora"}),
        [{"id": 4}, {"id": 1}],
    ),
    "User every granted field": (
        read("User", ["id", "username", "email", "phone", "profile_picture", {"roles": ["id", "role"]}],
             query_filters={"id": 3}),
        [{"id": 3, "username": "erik", "email": "erik@example.com", "phone": "+46 70 100 00 03",
          "profile_picture": None, "roles": [{"id": 2, "role": "Buyer"}, {"id": 3, "role": "Viewer"}]}],
    ),
    "User order_by -username": (read("User", ["username"], order_by=["-username"], per_page=2),
                                [{"username": "vera"}, {"username": "olle"}]),
    "Item order_by dealer.dealer_name": (
        read("Item", ["id"], order_by=["dealer.dealer_name"], query_filters={"dealer.id": {"operation": "in", "value": [2, 3]}}),
        [{"id": 5}, {"id": 8}, {"id": 3}, {"id": 4}],
    ),
    "Dealer with items and notes": (
        read("Dealer", ["id", "dealer_name", {"items": ["id", {"notes": [{"subject": ["subject"]}]}]}], query_filters={"id": 4}),
        [{"id": 4, "dealer_name": "Lars Nilsson", "items": [
            {"id": 7, "notes": [{"subject": {"subject": "Pricing"}}]}, {"id": 10, "notes": []}]}],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("request_body", "expected"), ALLOWED_READS.values(), ids=ALLOWED_READS.keys())
def test_buyer_reads_within_its_grants(
    world: World, request_body: dict[str, Any], expected: list[Any]
) -> None:
    """GIVEN a Buyer WHEN it reads, filters and orders on granted fields, dotted paths through granted
    relationships included THEN 200 with exactly the matching rows."""
    reply = call("get_items", request_body, ANNA)

    assert reply.status == 200, reply.envelope
    assert reply.body == expected


# ---- 3. row rules ---------------------------------------------------------------------------------

OWN_PROFILE: dict[str, dict[str, Any]] = {
    "phone": {"phone": "+46 70 555 55 55"},
    "username": {"username": "anna.l"},
    "profile_picture": {"profile_picture": "users/anna/new-avatar.jpg"},
    "email, only its case": {"email": "Anna@Beyo.se"},
    "several at once": {"username": "anna.l", "phone": "+46 70 555 55 55", "profile_picture": None},
}


@pytest.mark.parametrize("values", OWN_PROFILE.values(), ids=OWN_PROFILE.keys())
def test_buyer_updates_its_own_user_row(world: World, values: dict[str, Any]) -> None:
    """GIVEN a Buyer WHEN it updates username, phone, profile_picture (or the case of its email) of
    its own User row THEN 201 with the row, and only that row changed."""
    others = [world.user(who.id) for who in PEOPLE if who is not ANNA]
    before = world.user(ANNA.id)

    reply = call(
        "update_items",
        update("User", {"id": ANNA.id}, values, ["id", "username", "email", "phone", "profile_picture"]),
        ANNA,
    )

    assert reply.status == 201, reply.envelope
    expected = {**before, **values}
    assert world.user(ANNA.id) == expected
    assert reply.body == [
        {"id": ANNA.id, **{k: expected[k] for k in ("username", "email", "phone", "profile_picture")}}
    ]
    assert [world.user(who.id) for who in PEOPLE if who is not ANNA] == others


@pytest.mark.parametrize("target", [ADMIN, ERIK, NORA, OLLE], ids=lambda w: w.name)
@pytest.mark.parametrize(
    ("values", "update_type"),
    [
        ({"phone": "+46 70 666"}, "first_match"),
        ({"phone": "+46 70 666"}, "all_matches"),
        ({"username": "taken-over", "profile_picture": "users/x.jpg"}, "first_match"),
        ({"password": "Secret-pass-123"}, "first_match"),
        ({"email": "mine@example.com"}, "first_match"),
    ],
    ids=["phone first_match", "phone all_matches", "username and picture", "password", "email"],
)
def test_buyer_updating_another_users_row_is_403_and_changes_nothing(
    world: World, target: Who, values: dict[str, Any], update_type: str
) -> None:
    """GIVEN a Buyer WHEN it updates another user's row by id (a password or an email included:
    refused before any Cognito call, so 403 and not 503) THEN 403 saying only its own rows may
    change (not 404: the row exists), and nothing changed."""
    before = world.snapshot()

    reply = call("update_items", update("User", {"id": target.id}, values, update_type=update_type), ANNA)

    forbidden(reply, "rows=own", at="/query_filters")
    assert "own" in reply.message
    assert world.snapshot() == before


def test_buyer_updating_an_unknown_user_row_is_404(world: World) -> None:
    """GIVEN a Buyer WHEN its update filter matches no User at all THEN 404, nothing changed."""
    before = world.snapshot()

    reply = call("update_items", update("User", {"id": 999}, {"phone": "+46 70 666"}), ANNA)

    assert reply.status == 404, reply.envelope
    assert world.snapshot() == before


TAKEN_EMAILS = ["olle.berg@example.com", "ADMIN@example.com"]


@pytest.mark.parametrize("email", TAKEN_EMAILS)
def test_buyer_cannot_take_over_another_users_email(world: World, email: str) -> None:
    """GIVEN anna WHEN she sets her own email to another user's, in another case (the caller is found
    by email when its sub is unknown) THEN 409 naming 'email', found before any Cognito call, and
    nothing changed."""
    before = world.snapshot()

    reply = call("update_items", update("User", {"id": ANNA.id}, {"email": email}), ANNA)

    assert reply.status == 409, reply.envelope
    assert "field 'email'" in reply.message, reply.envelope
    assert world.snapshot() == before


WIDE_USER_UPDATES: dict[str, dict[str, Any]] = {
    "allow_all": update("User", {}, {"phone": "+46 70 777"}, ["id", "phone"], "all_matches", allow_all=True),
    "ids of three users": update(
        "User", {"id": {"operation": "in", "value": [1, 2, 3]}}, {"phone": "+46 70 777"}, ["id", "phone"], "all_matches"
    ),
    "every Buyer": update("User", {"roles.role": "Buyer"}, {"phone": "+46 70 777"}, ["id", "phone"], "all_matches"),
    "first_match over everyone": update(
        "User", {"id": {"operation": ">", "value": 0}}, {"phone": "+46 70 777"}, ["id", "phone"], "first_match"
    ),
}  # fmt: skip


@pytest.mark.parametrize("request_body", WIDE_USER_UPDATES.values(), ids=WIDE_USER_UPDATES.keys())
def test_buyer_update_matching_many_users_touches_only_its_own_row(
    world: World, request_body: dict[str, Any]
) -> None:
    """GIVEN a Buyer WHEN an update of User matches several users (allow_all, a list of ids, a role)
    THEN the row rule narrows it to the caller's own row: 201 with only that row, no other changed."""
    others = [world.user(who.id) for who in PEOPLE if who is not ANNA]

    reply = call("update_items", request_body, ANNA)

    assert reply.status == 201, reply.envelope
    assert reply.body == [{"id": ANNA.id, "phone": "+46 70 777"}]
    assert world.user(ANNA.id)["phone"] == "+46 70 777"
    assert [world.user(who.id) for who in PEOPLE if who is not ANNA] == others


@pytest.mark.parametrize("target", [ANNA, NORA], ids=["own row", "another row"])
def test_buyer_deleting_a_user_is_403(world: World, target: Who) -> None:
    """GIVEN a Buyer WHEN it deletes a User row, its own or another's THEN 403 naming User and delete."""
    before = world.snapshot()

    reply = call("delete_items", delete("User", {"id": target.id}), ANNA)

    refused_model(reply, "User", "delete")
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"metafields": {"vip": True}}, "metafields"),
        ({"phone": "+46 70 1", "metafields": None}, "metafields"),
    ],
    ids=["metafields", "phone and metafields"],
)
def test_buyer_writing_a_user_field_outside_its_grant_is_403(
    world: World, values: dict[str, Any], name: str
) -> None:
    """GIVEN a Buyer WHEN it writes a field of its own row outside its update grant
    THEN 403 naming the field at its pointer, nothing written."""
    before = world.snapshot()

    reply = call("update_items", update("User", {"id": ANNA.id}, values), ANNA)

    refused_field(reply, name, f"/object_values/{name}")
    assert world.snapshot() == before


# ---- 4. escalation attempts -------------------------------------------------------------------------

BUYER_ESCALATIONS: dict[str, tuple[str, dict[str, Any], Callable[[Reply], None]]] = {
    "link Admin to its own roles": (
        "update_items",
        update("User", {"id": ANNA.id}, {"roles": link("Role", {"role": "Admin"})}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "link every role to its own roles": (
        "update_items",
        update("User", {"id": ANNA.id}, {"roles": link("Role", {"id": {"operation": ">", "value": 0}}, "all_link")}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "create a role on its own roles": (
        "update_items",
        update("User", {"id": ANNA.id}, {"roles": create_rel({"role": "Boss", "key": "boss"})}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "unlink its own roles": (
        "update_items",
        update("User", {"id": ANNA.id}, {"roles": {"action": "unlink", "values": {"unlink_type": "unlink_all"}}}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "rename its own roles through the relationship": (
        "update_items",
        update("User", {"id": ANNA.id}, {"roles": through({"role": "Admin2"})}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "roles with allow_all": (
        "update_items",
        update("User", {}, {"roles": link("Role", {"role": "Admin"})}, update_type="all_matches", allow_all=True),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "roles next to a password": (
        "update_items",
        update("User", {"id": ANNA.id}, {"password": "Secret-pass-123", "roles": link("Role", {"role": "Admin"})}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "roles of another user": (
        "update_items",
        update("User", {"id": NORA.id}, {"roles": link("Role", {"role": "Buyer"})}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "create a Role": (
        "create_items",
        create("Role", {"role": "Boss", "key": "boss"}),
        lambda r: refused_model(r, "Role", "create"),
    ),
    "create a Role linked to itself": (
        "create_items",
        create("Role", {"role": "Boss", "key": "boss", "users": link("User", {"id": ANNA.id})}),
        lambda r: refused_model(r, "Role", "create"),
    ),
    "link itself to Admin through Role.users": (
        "update_items",
        update("Role", {"role": "Admin"}, {"users": link("User", {"id": ANNA.id})}),
        lambda r: refused_model(r, "Role", "update"),
    ),
    "rename the Admin role": (
        "update_items",
        update("Role", {"role": "Admin"}, {"role": "Buyer-old"}),
        lambda r: refused_model(r, "Role", "update"),
    ),
    "delete the Admin role": (
        "delete_items",
        delete("Role", {"role": "Admin"}),
        lambda r: refused_model(r, "Role", "delete"),
    ),
    "create a User with the Admin role": (
        "create_items",
        create("User", {"username": "evil", "email": "evil@example.com", "phone": "+46 70 1",
                        "roles": link("Role", {"role": "Admin"})}),
        lambda r: refused_model(r, "User", "create"),
    ),
    "create a User": (
        "create_items",
        create("User", {"username": "evil", "email": "evil@example.com", "phone": "+46 70 1"}),
        lambda r: refused_model(r, "User", "create"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("who", [ANNA, ERIK], ids=["Buyer", "Buyer+Viewer"])
@pytest.mark.parametrize(
    ("route", "request_body", "check"), BUYER_ESCALATIONS.values(), ids=BUYER_ESCALATIONS.keys()
)
def test_buyer_escalation_attempts_are_403_and_write_nothing(
    world: World, who: Who, route: str, request_body: dict[str, Any], check: Callable[[Reply], None]
) -> None:
    """GIVEN a Buyer WHEN it tries to gain a role by any path (roles of its User by link, create,
    unlink or through; Role create/update/delete; Role.users; a new User) THEN 403 naming what is
    refused, and no table changed."""
    before = world.snapshot()

    reply = call(route, request_body, who)

    check(reply)
    assert world.snapshot() == before
    assert world.roles_of(who.id) == list(who.roles)


ADMIN_SELF_GRANTS: dict[str, tuple[str, dict[str, Any], str]] = {
    # (route, request, pointer of the refused relationship)
    "link a role to its own User.roles": (
        "update_items",
        update("User", {"id": ADMIN.id}, {"roles": link("Role", {"role": "Viewer"})}),
        "/object_values/roles",
    ),
    "link itself through Role.users": (
        "update_items",
        update("Role", {"role": "Viewer"}, {"users": link("User", {"id": ADMIN.id})}),
        "/object_values/users",
    ),
    "link itself by email through Role.users": (
        "update_items",
        update("Role", {"role": "Buyer"}, {"users": link("User", {"email": "admin@example.com"})}),
        "/object_values/users",
    ),
    "create a role on its own User.roles": (
        "update_items",
        update("User", {"id": ADMIN.id}, {"roles": create_rel({"role": "Owner", "key": "owner"})}),
        "/object_values/roles",
    ),
    "create a Role linked to itself": (
        "create_items",
        create("Role", {"role": "Owner", "key": "owner", "users": link("User", {"id": ADMIN.id})}),
        "/object_values/users",
    ),
    "unlink its own roles": (
        "update_items",
        update("User", {"id": ADMIN.id}, {"roles": {"action": "unlink", "values": {"unlink_type": "unlink_all"}}}),
        "/object_values/roles",
    ),
    "itself among several users": (
        "update_items",
        update("User", {"id": {"operation": "in", "value": [ADMIN.id, NORA.id]}},
               {"roles": link("Role", {"role": "Viewer"})}, update_type="all_matches"),
        "/object_values/roles",
    ),
    "nested: Admin role's users given a role": (
        "update_items",
        update("Role", {"role": "Admin"}, {"users": through({"roles": link("Role", {"role": "Viewer"})})}),
        "/object_values/users/values/roles",
    ),
    "delete also_do links itself to the role": (
        "delete_items",
        delete("Role", {"role": "Viewer"}, also_do={"users": link("User", {"id": ADMIN.id})}),
        "/object_values/also_do/users",
    ),
    "batch: another user first, then itself": (
        "update_items",
        [
            update("User", {"id": NORA.id}, {"roles": link("Role", {"role": "Buyer"})}),
            update("User", {"id": ADMIN.id}, {"roles": link("Role", {"role": "Viewer"})}),
        ],
        "/1/object_values/roles",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "at"), ADMIN_SELF_GRANTS.values(), ids=ADMIN_SELF_GRANTS.keys()
)
def test_admin_changing_its_own_roles_is_403_and_writes_nothing(
    world: World, route: str, request_body: Any, at: str
) -> None:
    """GIVEN Admin (who may write User.roles and Role.users) WHEN a change of those relationships
    touches its own User row, by any path THEN 403 (no one grants themselves a role) naming the
    relationship at its pointer, and nothing written, the other users of the request included."""
    before = world.snapshot()

    reply = call(route, request_body, ADMIN)

    forbidden(reply, "self-grant", at=at)
    assert world.snapshot() == before


ADMIN_GRANTS_TO_OTHERS: dict[str, tuple[str, dict[str, Any], int, list[str]]] = {
    # (route, request, user, that user's roles afterwards)
    "User.roles link on nora": (
        "update_items", update("User", {"id": NORA.id}, {"roles": link("Role", {"role": "Buyer"})}), NORA.id, ["Buyer"],
    ),
    "Role.users link of nora": (
        "update_items", update("Role", {"role": "Viewer"}, {"users": link("User", {"id": NORA.id})}), NORA.id, ["Viewer"],
    ),
    "User.roles unlink on erik": (
        "update_items",
        update("User", {"id": ERIK.id}, {"roles": {"action": "unlink", "values": {"unlink_type": "unlink_matches",
                                                                                 "query_filters": {"role": "Viewer"}}}}),
        ERIK.id,
        ["Buyer"],
    ),
    "Admin role to anna": (
        "update_items", update("User", {"id": ANNA.id}, {"roles": link("Role", {"role": "Admin"})}), ANNA.id, ["Admin", "Buyer"],
    ),
    "a new user with a role": (
        "create_items",
        create("User", {"username": "pia", "email": "pia@example.com", "phone": "+46 70 7",
                        "roles": link("Role", {"role": "Viewer"})}),
        7,
        ["Viewer"],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "user_id", "roles"),
    ADMIN_GRANTS_TO_OTHERS.values(),
    ids=ADMIN_GRANTS_TO_OTHERS.keys(),
)
def test_admin_changes_the_roles_of_another_user(
    world: World, route: str, request_body: dict[str, Any], user_id: int, roles: list[str]
) -> None:
    """GIVEN Admin WHEN it grants or revokes a role of another (or a new) user THEN 201 and the user
    holds exactly the expected roles; Admin's own roles are unchanged."""
    reply = call(route, request_body, ADMIN)

    assert reply.status == 201, reply.envelope
    assert world.roles_of(user_id) == roles
    assert world.roles_of(ADMIN.id) == ["Admin"]


def test_a_role_granted_by_admin_opens_the_data_routes(world: World) -> None:
    """GIVEN nora without roles (403 on data routes) WHEN Admin grants her Buyer
    THEN her next read succeeds with her same token."""
    no_role(call("get_items", read("Item", query_filters={"id": 1}), NORA))

    granted = call(
        "update_items", update("User", {"id": NORA.id}, {"roles": link("Role", {"role": "Buyer"})}), ADMIN
    )

    assert granted.status == 201, granted.envelope
    assert succeeds("get_items", read("Item", query_filters={"id": 1}), NORA).body == [{"id": 1}]


NESTED_REFUSALS: dict[str, tuple[str, dict[str, Any], str, str]] = {
    # (route, request, refused model, refused operation)
    "Item.dealer through creates Dealer_Notes": (
        "update_items",
        update("Item", {"id": 1}, {"dealer": through({"dealer_notes": create_rel({"subject": "Sneaky"})})}),
        "Dealer_Notes", "create",
    ),
    "Item.dealer through changes Dealer_Notes": (
        "update_items",
        update("Item", {"id": 1}, {"dealer": through({"dealer_notes": through({"content": "Overwritten."})})}),
        "Dealer_Notes", "update",
    ),
    "Item.dealer link also_do creates Dealer_History": (
        "update_items",
        update("Item", {"id": 1}, {"dealer": link("Dealer", {"id": 2}, also_do={
            "phone": "+46 70 1", "dealer_history": create_rel({"column_name": "phone"})})}),
        "Dealer_History", "create",
    ),
    "Item.dealer link filtered through Dealer_Notes": (
        "update_items",
        update("Item", {"id": 1}, {"dealer": link("Dealer", {"dealer_notes.subject": "Opening"})}),
        "Dealer_Notes", "get",
    ),
    "Item.notes unlink filtered through Dealer_History": (
        "update_items",
        update("Item", {"id": 1}, {"notes": {"action": "unlink", "values": {
            "unlink_type": "unlink_matches", "query_filters": {"items.dealer.dealer_history.id": 1}}}}),
        "Dealer_History", "get",
    ),
    "update filtered through Dealer_History": (
        "update_items",
        update("Item", {"dealer.dealer_history.column_name": "phone"}, {"state": "Sold"}, update_type="all_matches"),
        "Dealer_History", "get",
    ),
    "delete filtered through Dealer_Notes": (
        "delete_items",
        delete("Item", {"dealer.dealer_notes.subject": "Opening"}),
        "Dealer_Notes", "get",
    ),
    "Item_Note subject link also_do changes the subject": (
        "create_items",
        create("Item_Note", {"note_content": "x", "subject": link("Item_Notes_Subject", {"subject": "Condition"},
                                                                     also_do={"notes_counter": 3})}),
        "Item_Notes_Subject", "update",
    ),
    "Item_Note subject through changes the subject": (
        "update_items",
        update("Item_Note", {"id": 1}, {"subject": through({"subject": "Renamed"})}),
        "Item_Notes_Subject", "update",
    ),
    "delete Item also_do renames subjects of its notes": (
        "delete_items",
        delete("Item", {"id": 1}, also_do={"notes": through({"subject": through({"subject": "Renamed"})})}),
        "Item_Notes_Subject", "update",
    ),
    "delete Item_Note also_do reaches Dealer_Notes": (
        "delete_items",
        delete("Item_Note", {"id": 1}, also_do={"items": through({"dealer": through({
            "dealer_notes": create_rel({"subject": "Sneaky"})})})}),
        "Dealer_Notes", "create",
    ),
    "create Item with a new dealer carrying notes": (
        "create_items",
        create("Item", {"article_number": "2601-002", "dealer": create_rel({
            "dealer_name": "Ny", "dealer_notes": create_rel({"subject": "Sneaky"})})}),
        "Dealer_Notes", "create",
    ),
    "delete a Dealer": (
        "delete_items", delete("Dealer", {"id": 5}), "Dealer", "delete",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "model", "op"), NESTED_REFUSALS.values(), ids=NESTED_REFUSALS.keys()
)
def test_buyer_nested_action_reaching_a_model_it_may_not_touch_is_403(
    world: World, route: str, request_body: dict[str, Any], model: str, op: str
) -> None:
    """GIVEN a Buyer WHEN a nested action, also_do, a link or unlink filter, or an update/delete
    filter reaches a model/operation its grants do not cover THEN 403 naming that model and
    operation, and nothing written (not even the parts it may do)."""
    before = world.snapshot()

    reply = call(route, request_body, ANNA)

    refused_reaching(reply, model, op)
    assert world.snapshot() == before


NESTED_ALLOWED: dict[str, tuple[str, dict[str, Any], Callable[[World, Reply], None]]] = {
    "Item.dealer link with also_do on the Dealer": (
        "update_items",
        update("Item", {"id": 1}, {"dealer": link("Dealer", {"id": 2}, also_do={"phone": "+46 70 1"})}),
        lambda w, r: (
            w.scalar('SELECT dealer_id FROM "Item" WHERE id = 1') == 2
            and w.scalar('SELECT phone FROM "Dealer" WHERE id = 2') == "+46 70 1"
        ),
    ),
    "Item_History created through Item": (
        "update_items",
        update("Item", {"id": 9}, {"item_history": create_rel(history_entry("state", "In-Transit", "Sold"),
                                                              sub_model_name="Item_History")}),
        lambda w, r: w.rows('SELECT column_name, to_value, user_name FROM "Item_History" WHERE item_id = 9')
        == [("state", "Sold", "anna")],
    ),
    "Item_Notes_Subject linked or created by a note": (
        "create_items",
        create("Item_Note", {"note_content": "Ship it.", "subject": link(
            "Item_Notes_Subject", {"subject": "Shipping"}, action_if_none="create_entry",
            values_for_none_action={"subject": "Shipping"})}, ["id", {"subject": ["subject"]}]),
        lambda w, r: r.body[0]["subject"] == {"subject": "Shipping"}
        and w.scalar("SELECT count(*) FROM \"Item_Notes_Subject\" WHERE subject = 'Shipping'") == 1,
    ),
    "Item_Notes_Subject created by a note": (
        "create_items",
        create("Item_Note", {"note_content": "Crate it.", "subject": create_rel({"subject": "Packing"})}),
        lambda w, r: w.scalar("SELECT count(*) FROM \"Item_Notes_Subject\" WHERE subject = 'Packing'") == 1,
    ),
    "subject created with item_notes linked": (
        "create_items",
        create("Item_Note", {"note_content": "x", "subject": link(
            "Item_Notes_Subject", {"subject": "Nope"}, action_if_none="create_entry",
            values_for_none_action={"subject": "Nope", "item_notes": link("Item_Note", {"id": 1})})}),
        lambda w, r: w.scalar("SELECT s.subject FROM \"Item_Note\" n JOIN \"Item_Notes_Subject\" s "
                              "ON s.id = n.subject_id WHERE n.id = 1") == "Nope",
    ),
    "Item with a new Dealer": (
        "create_items",
        create("Item", {"article_number": "2601-003", "dealer": create_rel({"dealer_name": "Ny Handlare"})},
               ["id", {"dealer": ["dealer_name"]}]),
        lambda w, r: r.body[0]["dealer"] == {"dealer_name": "Ny Handlare"},
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "check"), NESTED_ALLOWED.values(), ids=NESTED_ALLOWED.keys()
)
def test_buyer_nested_actions_within_its_grants_succeed(
    world: World, route: str, request_body: dict[str, Any], check: Callable[[World, Reply], bool]
) -> None:
    """GIVEN a Buyer WHEN nested actions stay within its grants (Dealer updated through a link's
    also_do, Item_History created through Item, a subject linked or created) THEN 201 and the rows
    are written."""
    reply = call(route, request_body, ANNA)

    assert reply.status == 201, reply.envelope
    assert check(world, reply)


UNLINK_ALL_REFUSALS: dict[str, dict[str, Any]] = {
    "Dealer.dealer_notes unlink_all": update(
        "Dealer", {"id": 1}, {"dealer_notes": {"action": "unlink", "values": {"unlink_type": "unlink_all"}}}
    ),
    "Dealer.dealer_history unlink_all": update(
        "Dealer", {"id": 1}, {"dealer_history": {"action": "unlink", "values": {"unlink_type": "unlink_all"}}}
    ),
    "Item.dealer through, dealer_notes unlink_all": update(
        "Item", {"id": 1}, {"dealer": through({"dealer_notes": {"action": "unlink", "values": {"unlink_type": "unlink_all"}}})}
    ),
}  # fmt: skip


@pytest.mark.parametrize("request_body", UNLINK_ALL_REFUSALS.values(), ids=UNLINK_ALL_REFUSALS.keys())
def test_buyer_unlinking_all_rows_of_a_model_it_has_no_grant_on_is_403(
    world: World, request_body: dict[str, Any]
) -> None:
    """GIVEN a Buyer, who may update Dealer but has no grant on Dealer_Notes or Dealer_History
    WHEN it unlinks all of a dealer's notes or history (delete-orphan relationships: unlinking
    deletes them) THEN 403 naming the model, and nothing written."""
    before = world.snapshot()

    reply = call("update_items", request_body, ANNA)

    assert world.snapshot() == before, f"written: {reply.status} {reply.message}"
    forbidden(reply, "Dealer_")


WRITE_READ_REFUSALS: dict[str, tuple[str, dict[str, Any], Callable[[Reply], None]]] = {
    "update own User requesting metafields": (
        "update_items",
        update("User", {"id": ANNA.id}, {"phone": "+46 70 1"}, ["id", "metafields"]),
        lambda r: refused_field(r, "metafields", "/requested_data/1"),
    ),
    "update own User requesting roles.key": (
        "update_items",
        update("User", {"id": ANNA.id}, {"phone": "+46 70 1"}, ["id", {"roles": ["key"]}]),
        lambda r: refused_field(r, "key", "/requested_data/1/roles/0"),
    ),
    "create Item requesting its dealer's notes": (
        "create_items",
        create("Item", {"article_number": "2601-004", "dealer": link("Dealer", {"id": 1})},
               ["id", {"dealer": ["id", {"dealer_notes": ["content"]}]}]),
        lambda r: refused_model(r, "Dealer_Notes", "get"),
    ),
    "update Item requesting dealer history": (
        "update_items",
        update("Item", {"id": 1}, {"state": "Sold"}, ["id", "dealer.dealer_history.column_name"]),
        lambda r: refused_model(r, "Dealer_History", "get"),
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "check"), WRITE_READ_REFUSALS.values(), ids=WRITE_READ_REFUSALS.keys()
)
def test_buyer_write_whose_requested_data_names_a_forbidden_field_is_403_and_writes_nothing(
    world: World, route: str, request_body: dict[str, Any], check: Callable[[Reply], None]
) -> None:
    """GIVEN a Buyer WHEN a granted write asks back a field or model it may not read
    THEN 403 naming it, and the write itself did not happen."""
    before = world.snapshot()

    reply = call(route, request_body, ANNA)

    check(reply)
    assert world.snapshot() == before


BATCHES: dict[str, tuple[str, list[dict[str, Any]], str, str]] = {
    # (route, batch whose 2nd member is refused, what the refusal names, where)
    "create Item, then Role": (
        "create_items",
        [create("Item", {"article_number": "2601-005"}), create("Role", {"role": "Boss", "key": "boss"})],
        "model=Role operation=create",
        "/1/object_values",
    ),
    "create Item, then Dealer_Notes": (
        "create_items",
        [create("Item", {"article_number": "2601-005"}), create("Dealer_Notes", {"subject": "x"})],
        "model=Dealer_Notes operation=create",
        "/1/object_values",
    ),
    "update Item, then another user's row": (
        "update_items",
        [update("Item", {"id": 1}, {"state": "Sold"}), update("User", {"id": NORA.id}, {"phone": "+46 70 1"})],
        "rows=own",
        "/1/query_filters",
    ),
    "update own row, then own roles": (
        "update_items",
        [update("User", {"id": ANNA.id}, {"phone": "+46 70 1"}),
         update("User", {"id": ANNA.id}, {"roles": link("Role", {"role": "Admin"})})],
        "field=roles",
        "/1/object_values/roles",
    ),
    "update Item, then Dealer_Notes": (
        "update_items",
        [update("Item", {"id": 1}, {"state": "Sold"}), update("Dealer_Notes", {"id": 1}, {"content": "x"})],
        "model=Dealer_Notes operation=update",
        "/1",
    ),
    "delete a note, then a Dealer": (
        "delete_items",
        [delete("Item_Note", {"id": 6}), delete("Dealer", {"id": 5})],
        "model=Dealer operation=delete",
        "/1",
    ),
    "delete a note, then a subject": (
        "delete_items",
        [delete("Item_Note", {"id": 6}), delete("Item_Notes_Subject", {"id": 3})],
        "model=Item_Notes_Subject operation=delete",
        "/1",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("route", "batch", "named", "at"), BATCHES.values(), ids=BATCHES.keys())
def test_batch_whose_second_member_is_refused_writes_nothing(
    world: World, route: str, batch: list[dict[str, Any]], named: str, at: str
) -> None:
    """GIVEN a Buyer's batch whose first member is granted and second is not WHEN it is sent
    THEN 403 naming what is refused, and the first member was not written either."""
    before = world.snapshot()

    reply = call(route, batch, ANNA)

    forbidden(reply, named)
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("route", "batch", "named", "at"),
    [pytest.param(*case, id=name) for name, case in BATCHES.items()],
)
def test_batch_refusal_points_into_the_refused_member(
    world: World, route: str, batch: list[dict[str, Any]], named: str, at: str
) -> None:
    """GIVEN a Buyer's batch whose second member is refused WHEN it is sent THEN the server_message's
    JSON pointer starts at that member (/1...)."""
    reply = call(route, batch, ANNA)

    forbidden(reply, named)
    assert reply.server_message.endswith(f" at {at}"), reply.envelope


# ---- 5. the caller --------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["olle.berg@example.com", "OLLE.BERG@EXAMPLE.COM", "Olle.Berg@Example.com"])
def test_unknown_sub_with_a_known_email_is_that_user_and_fills_cognito_sub(world: World, email: str) -> None:
    """GIVEN olle, a Buyer without cognito_sub WHEN a token with a new sub and his email in any case
    arrives THEN he is the caller (his username stamps created_by), cognito_sub is filled in, and
    the next token with that sub is him whatever its email claim."""
    claims = claims_of(OLLE, sub="policy-sub-olle", email=email)

    reply = call(
        "create_items", create("Item", {"article_number": "2601-006"}, ["id", "created_by"]), claims=claims
    )

    assert reply.status == 201, reply.envelope
    assert reply.body[0]["created_by"] == "olle"
    assert world.user(OLLE.id)["cognito_sub"] == "policy-sub-olle"
    again = call("get_items", read("Item", ["created_by"], query_filters={"id": reply.body[0]["id"]}),
                 claims=claims_of(OLLE, sub="policy-sub-olle", email="olle@elsewhere.example"))  # fmt: skip
    assert again.status == 200, again.envelope
    assert again.body == [{"created_by": "olle"}]


def test_a_known_email_whose_user_has_another_sub_is_refused(world: World) -> None:
    """GIVEN anna has a cognito_sub WHEN a token with another sub carries her email
    THEN 403 (another Cognito user is not anna) and her cognito_sub is unchanged."""
    reply = call("get_items", read("Item"), claims=claims_of(ANNA, sub="policy-sub-impostor"))

    forbidden(reply)
    assert reply.status == 403
    assert world.user(ANNA.id)["cognito_sub"] == ANNA.sub


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "claims",
    [
        {
            "sub": "policy-sub-stranger",
            "email": "stranger@example.com",
            "cognito:username": "policy-sub-stranger",
        },
        {"sub": "policy-sub-stranger", "cognito:username": "policy-sub-stranger"},
    ],
    ids=["unknown sub and email", "unknown sub, no email"],
)
def test_unknown_user_is_403_on_every_data_route(world: World, route: str, claims: dict[str, str]) -> None:
    """GIVEN a valid token of a user with no User row WHEN any data route is called THEN 403, nothing written."""
    before = world.snapshot()

    reply = call(route, item_request(route), claims=claims)

    forbidden(reply)
    assert "not known" in reply.message, reply.envelope
    assert world.snapshot() == before


@pytest.mark.parametrize("route", [*ROUTES, "session_me"])
@pytest.mark.parametrize("how", ["no authorizer", "empty claims", "no sub"])
def test_missing_claims_are_401(world: World, route: str, how: str) -> None:
    """GIVEN an event without claims (or without `sub`) WHEN a data or session route is called THEN 401."""
    event = make_event(route, item_request(route))
    if how == "no authorizer":
        del event["requestContext"]["authorizer"]
    elif how == "empty claims":
        event["requestContext"]["authorizer"] = {"claims": {}}
    else:
        event["requestContext"]["authorizer"]["claims"].pop("sub")
    before = world.snapshot()

    reply = invoke(route, event)

    assert reply.status == 401, reply.envelope
    assert world.snapshot() == before


def item_request(route: str) -> dict[str, Any]:
    """A valid request on Item for a data route (requests are validated before the caller is loaded)."""
    return {} if route == "session_me" else CELLS["Item"].request("Item", ROUTE_OF_OP[route], ANNA)


def _signed_out(world: World, who: Who, at: datetime) -> None:
    with world.engine.begin() as conn:
        conn.execute(text('UPDATE "User" SET tokens_valid_after = :t WHERE id = :i'), {"t": at, "i": who.id})


@pytest.mark.parametrize("route", [*ROUTES, "session_me"])
def test_token_older_than_tokens_valid_after_is_403_session_ended(world: World, route: str) -> None:
    """GIVEN anna logged out at 14:00 WHEN a token authenticated at 13:05 is used on any route
    THEN 403 saying the session has ended, nothing written."""
    _signed_out(world, ANNA, datetime(2025, 12, 5, 14, 0, tzinfo=UTC))
    before = world.snapshot()

    reply = call(route, item_request(route), ANNA)

    forbidden(reply, "TokenSignedOut")
    assert "session has ended" in reply.message, reply.envelope
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("valid_after", "status"),
    [(datetime(2025, 12, 5, 14, 0, tzinfo=UTC), 403), (datetime(2025, 12, 5, 13, 0, tzinfo=UTC), 200)],
    ids=["signed out after iat", "signed out before iat"],
)
def test_token_without_auth_time_is_judged_by_iat(world: World, valid_after: datetime, status: int) -> None:
    """GIVEN a token without `auth_time` (API Gateway's `iat` is a date string: 13:45 UTC)
    WHEN anna signed out at 14:00 (or 13:00) THEN 403 session ended (or 200)."""
    _signed_out(world, ANNA, valid_after)

    reply = call("get_items", read("Item", query_filters={"id": 1}), claims=claims_of(ANNA, auth_time=None))

    assert reply.status == status, reply.envelope
    if status == 403:
        forbidden(reply, "TokenSignedOut")


def test_token_newer_than_tokens_valid_after_is_accepted(world: World) -> None:
    """GIVEN anna logged out at 12:00 WHEN a token authenticated at 13:05 is used THEN it works."""
    _signed_out(world, ANNA, datetime(2025, 12, 5, 12, 0, tzinfo=UTC))

    assert succeeds("get_items", read("Item", query_filters={"id": 1}), ANNA).body == [{"id": 1}]


def test_the_sub_decides_not_the_email_or_the_groups_claim(world: World) -> None:
    """GIVEN anna's sub with admin's email and `cognito:groups: Admin` WHEN she creates a Role and an
    Item THEN she is anna: the Role is 403 and the Item is stamped with her username."""
    claims = claims_of(ANNA, email=ADMIN.email, cognito_groups="Admin")
    before = world.snapshot()

    role = call("create_items", create("Role", {"role": "Boss", "key": "boss"}), claims=claims)
    refused_model(role, "Role", "create")
    assert world.snapshot() == before
    item = call("create_items", create("Item", {"article_number": "2601-007"}, ["created_by"]), claims=claims)
    assert (item.status, item.body) == (201, [{"created_by": "anna"}])


@pytest.mark.parametrize("route", ROUTES)
def test_user_without_roles_is_403_no_role_on_data_routes_but_may_use_the_session_route(
    world: World, route: str
) -> None:
    """GIVEN nora without roles WHEN she calls a data route THEN 403 saying no role is assigned;
    POST /api still answers her own row with no roles."""
    before = world.snapshot()

    no_role(call(route, item_request(route), NORA))
    assert world.snapshot() == before

    me = succeeds("session_me", {}, NORA)
    assert me.body == [{"id": NORA.id, "username": "nora", "email": NORA.email, "phone": "+46 70 100 00 04",
                        "roles": [], "profile_picture": None}]  # fmt: skip


ME_SHAPES: dict[str, tuple[Who, list[Any], int, str | None]] = {
    "Buyer: granted fields": (ANNA, ["id", "email", {"roles": ["role"]}], 200, None),
    "Buyer: metafields": (ANNA, ["id", "metafields"], 403, "metafields"),
    "Buyer: cognito_sub": (ANNA, ["cognito_sub"], 403, "cognito_sub"),
    "Buyer: roles.key": (ANNA, ["roles.key"], 403, "key"),
    "no role: the default fields": (NORA, ["id", "username", "email", "phone", "profile_picture", {"roles": ["role", "id"]}], 200, None),
    "no role: metafields": (NORA, ["metafields"], 403, "metafields"),
    "Viewer: tokens_valid_after": (VERA, ["tokens_valid_after"], 403, "tokens_valid_after"),
    "Admin: every field": (ADMIN, ["metafields", "cognito_sub", "roles.key"], 200, None),
}  # fmt: skip


@pytest.mark.parametrize(("who", "requested", "status", "name"), ME_SHAPES.values(), ids=ME_SHAPES.keys())
def test_who_am_i_shaped_by_requested_data_respects_the_grants(
    world: World, who: Who, requested: list[Any], status: int, name: str | None
) -> None:
    """GIVEN a caller of any role (none included) WHEN POST /api asks its own row shaped by
    requested_data THEN the default fields (and what its grants let it read of User) answer 200 with
    exactly its own row; any other field is 403 naming it."""
    reply = call("session_me", {"requested_data": requested}, who)

    assert reply.status == status, reply.envelope
    if status == 403:
        forbidden(reply, name)
    else:
        assert len(reply.body) == 1
        assert set(reply.body[0]) == {
            n.split(".")[0] if isinstance(n, str) else next(iter(n)) for n in requested
        }
        if "id" in reply.body[0]:
            assert reply.body[0]["id"] == who.id


# ---- 6. the front end's calls, per role -------------------------------------------------------------


def fe_item_list(who: Who) -> tuple[str, Any]:
    return "get_items", support.body("get_items_item_list")


def fe_search(who: Who) -> tuple[str, Any]:
    return "get_items", support.body("get_items_search_or")


def fe_filter_page(who: Who) -> tuple[str, Any]:
    return "get_items", support.body("get_items_filter_page")


def fe_filter_page_matching(who: Who) -> tuple[str, Any]:
    request = support.body("get_items_filter_page")
    request["query_filters"] = {
        "state": "In-Transit",
        "properties": {"operation": "contains", "value": {"set_of": 6}},
        "notes.subject.subject": "Condition",
        "dealer.id": 1,
    }
    return "get_items", request


def fe_single_item(who: Who) -> tuple[str, Any]:
    return "get_items", support.body("get_items_single_item")


def fe_dealers(who: Who) -> tuple[str, Any]:
    fields = ["id", "dealer_name", "dealer_type", "phone", "email", "raw_address", "coordinates", "age",
              "gender", "purchased_count", "item_count", "created_at"]  # fmt: skip
    return "get_items", read("Dealer", fields, per_page=60, cursor=None)


def fe_users(who: Who) -> tuple[str, Any]:
    fields = ["id", "username", "email", "phone", "profile_picture", "roles.role", "roles.id"]
    return "get_items", read("User", fields)


def fe_roles(who: Who) -> tuple[str, Any]:
    return "get_items", read("Role", ["id", "role"])


def fe_create_item(who: Who) -> tuple[str, Any]:
    return "create_items", create(
        "Item",
        {
            "article_number": "2512-008",
            "category": "Chair",
            "state": "In-Transit",
            "purchased_price": 700,
            "properties": {"set_of": 2, "color": "oak"},
            "images": ["items/2512-008/1.jpg"],
            "dealer": link("Dealer", {"id": 2}),
            "item_history": create_rel(
                {**history_entry("state", None, "In-Transit"), "type": "create"},
                sub_model_name="Item_History",
            ),
        },
        [
            "id",
            "article_number",
            "created_by",
            {"dealer": ["id", "dealer_name"]},
            {"item_history": ["user_name"]},
        ],
        reference="Item 2512-008",
    )


def fe_update_items(who: Who) -> tuple[str, Any]:
    return "update_items", update(
        "Item",
        {"article_number": {"operation": "in", "value": "2511-001"}},
        {
            "id": 1,
            "state": "In-Stock",
            "location": "Lager Västberga",
            "item_history": create_rel(
                [
                    history_entry("state", "In-Transit", "In-Stock"),
                    history_entry("location", None, "Lager Västberga"),
                ],
                sub_model_name="Item_History",
            ),
        },
        ["id", "state", "location", {"item_history": ["column_name", "to_value"]}],
        "all_matches",
        reference="Item 2511-001",
    )


def fe_create_notes(who: Who) -> tuple[str, Any]:
    def note(content: str, subject: str, items: list[int]) -> dict[str, Any]:
        return create(
            "Item_Note",
            {
                "note_content": content,
                "creation_time": "2025-12-05T09:30:00+01:00",
                "subject": link(
                    "Item_Notes_Subject",
                    {"subject": subject},
                    action_if_none="create_entry",
                    values_for_none_action={"subject": subject},
                ),
                "items": link(
                    "Item",
                    {"id": {"operation": "in", "value": items}},
                    "all_link",
                    also_do={"item_history": create_rel(history_entry("notes", None, content))},
                ),
            },
            ["id", "note_content", "creation_time", {"subject": ["id", "subject"]}, "items.id"],
            reference="Note",
        )

    return "create_items", [
        note("Cords need replacing.", "Condition", [9, 12]),
        note("Ship to Malmö.", "Shipping", [12]),
    ]


def fe_update_note(who: Who) -> tuple[str, Any]:
    return "update_items", update(
        "Item_Note",
        {"id": 2},
        {
            "id": 2,
            "note_content": "Re-upholstered, ready for sale.",
            "subject": link("Item_Notes_Subject", {"subject": "Condition"}),
            "items": through({"state": "In-Stock", "item_history": create_rel(history_entry("state", "In-Transit", "In-Stock"))}),
        },
        ["id", "note_content", "subject_id"],
        reference="Note",
    )  # fmt: skip


def fe_delete_note(who: Who) -> tuple[str, Any]:
    return "delete_items", {
        "model_name": "Item_Note",
        "reference": "Note",
        "object_values": {"query_filters": {"id": 6}, "delition_type": "delete_first"},
    }


def fe_own_profile(who: Who) -> tuple[str, Any]:
    return "update_items", update(
        "User",
        {"id": who.id},
        {"id": who.id, "username": f"{who.name}.x", "phone": "+46 70 321 00 00",
         "profile_picture": f"users/{who.name}/avatar-2.jpg"},
        ["id", "username", "email", "phone", "profile_picture", {"roles": ["role", "id"]}],
        reference="Profile",
    )  # fmt: skip


def fe_me(who: Who) -> tuple[str, Any]:
    return "session_me", {}


def fe_me_shaped(who: Who) -> tuple[str, Any]:
    return "session_me", {"requested_data": ["id", "username", {"roles": ["role", "id"]}]}


FRONT_END: dict[str, Callable[[Who], tuple[str, Any]]] = {
    "item list": fe_item_list,
    "search with or- groups": fe_search,
    "filter page": fe_filter_page,
    "filter page, matching": fe_filter_page_matching,
    "single item with notes, subjects, history": fe_single_item,
    "dealers list": fe_dealers,
    "users list with roles": fe_users,
    "roles list": fe_roles,
    "create an item linked to a dealer": fe_create_item,
    "update items appending history": fe_update_items,
    "create notes linking subjects and items": fe_create_notes,
    "update a note and its items": fe_update_note,
    "delete a note": fe_delete_note,
    "update own profile": fe_own_profile,
    "who am I": fe_me,
    "who am I, shaped": fe_me_shaped,
}
FRONT_END_EXPECTED: dict[str, Callable[[Who, World, Reply], None]] = {}


def _expects(
    name: str,
) -> Callable[[Callable[[Who, World, Reply], None]], Callable[[Who, World, Reply], None]]:
    def register(check: Callable[[Who, World, Reply], None]) -> Callable[[Who, World, Reply], None]:
        FRONT_END_EXPECTED[name] = check
        return check

    return register


@_expects("item list")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.ids == list(range(12, 0, -1))
    assert reply.body[-1]["dealer"] == {"dealer_name": "Gamla Stans Antik", "id": 1}


@_expects("search with or- groups")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.ids == [12, 11, 10, 9, 8, 7, 6, 3]


@_expects("filter page")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.body == []


@_expects("filter page, matching")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.ids == [1]
    assert reply.body[0]["notes"] == [
        {"subject": {"subject": "Condition"}},
        {"subject": {"subject": "Restoration"}},
    ]


@_expects("single item with notes, subjects, history")
def _(who: Who, world: World, reply: Reply) -> None:
    [item] = reply.body
    assert item["id"] == 1 and item["dealer"]["dealer_name"] == "Gamla Stans Antik"
    assert [n["subject"] for n in item["notes"]] == [
        {"id": 1, "subject": "Condition"},
        {"id": 2, "subject": "Restoration"},
    ]
    assert len(item["item_history"]) == 3


@_expects("dealers list")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.ids == [5, 4, 3, 2, 1]


@_expects("users list with roles")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.ids == [6, 5, 4, 3, 2, 1]
    rows = {row["id"]: row for row in reply.body}
    assert rows[3]["roles"] == [{"role": "Buyer", "id": 2}, {"role": "Viewer", "id": 3}]
    assert rows[4]["roles"] == []
    assert set(rows[1]) == {"id", "username", "email", "phone", "profile_picture", "roles"}


@_expects("roles list")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.body == [{"id": 3, "role": "Viewer"}, {"id": 2, "role": "Buyer"}, {"id": 1, "role": "Admin"}]


@_expects("create an item linked to a dealer")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.message == "Item 2512-008 created!"
    [item] = reply.body
    assert item["created_by"] == who.name
    assert item["dealer"] == {"id": 2, "dealer_name": "Karin Lund"}
    assert item["item_history"] == [{"user_name": who.name}]


@_expects("update items appending history")
def _(who: Who, world: World, reply: Reply) -> None:
    [item] = reply.body
    assert (item["id"], item["state"], item["location"]) == (1, "In-Stock", "Lager Västberga")
    assert len(item["item_history"]) == 5
    assert world.rows('SELECT user_name FROM "Item_History" WHERE item_id = 1 ORDER BY id DESC LIMIT 2') == [
        (who.name,),
        (who.name,),
    ]


@_expects("create notes linking subjects and items")
def _(who: Who, world: World, reply: Reply) -> None:
    first, second = (member[0] for member in reply.body)
    assert first["subject"] == {"id": 1, "subject": "Condition"}
    assert sorted(i["id"] for i in first["items"]) == [9, 12]
    assert second["subject"]["subject"] == "Shipping"
    assert world.scalar('SELECT count(*) FROM "Item_History" WHERE item_id = 12') == 2


@_expects("update a note and its items")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.body == [{"id": 2, "note_content": "Re-upholstered, ready for sale.", "subject_id": 1}]
    assert world.rows('SELECT id, state FROM "Item" WHERE id IN (1, 2, 5) ORDER BY id') == [
        (1, "In-Stock"),
        (2, "In-Stock"),
        (5, "In-Stock"),
    ]


@_expects("delete a note")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.message == "Note deleted!"
    assert world.scalar('SELECT count(*) FROM "Item_Note" WHERE id = 6') == 0


@_expects("update own profile")
def _(who: Who, world: World, reply: Reply) -> None:
    [row] = reply.body
    assert (row["id"], row["username"], row["phone"]) == (who.id, f"{who.name}.x", "+46 70 321 00 00")
    assert row["roles"] == [{"role": r, "id": {"Admin": 1, "Buyer": 2, "Viewer": 3}[r]} for r in who.roles]
    assert world.user(who.id)["profile_picture"] == f"users/{who.name}/avatar-2.jpg"


@_expects("who am I")
def _(who: Who, world: World, reply: Reply) -> None:
    [row] = reply.body
    assert row["id"] == who.id and row["username"] == who.name
    assert [r["role"] for r in row["roles"]] == list(who.roles)


@_expects("who am I, shaped")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.body == [
        {"id": who.id, "username": who.name, "roles": [{"role": r, "id": {"Admin": 1, "Buyer": 2, "Viewer": 3}[r]} for r in who.roles]}
    ]  # fmt: skip


@pytest.mark.parametrize("who", [ANNA, ERIK, ADMIN], ids=["Buyer", "Buyer+Viewer", "Admin"])
@pytest.mark.parametrize("name", FRONT_END, ids=FRONT_END.keys())
def test_front_end_call_succeeds_for_every_role(world: World, who: Who, name: str) -> None:
    """GIVEN a user of a role the front end serves WHEN the front end makes one of its calls
    THEN it succeeds (a 403 would log the user out) with the expected data."""
    route, request_body = FRONT_END[name](who)

    reply = succeeds(route, request_body, who)

    FRONT_END_EXPECTED[name](who, world, reply)


ADMIN_USER_MANAGEMENT: dict[str, tuple[str, dict[str, Any], Callable[[World, Reply], None]]] = {
    "create a user (default role)": (
        "create_items",
        create("User", {"username": "pia", "email": "pia@example.com", "phone": "+46 70 7"},
               ["id", "username", {"roles": ["role"]}], reference="User pia"),
        lambda w, r: r.body == [{"id": 7, "username": "pia", "roles": [{"role": "Buyer"}]}],
    ),
    "edit another user": (
        "update_items",
        update("User", {"id": ANNA.id}, {"username": "anna.l", "phone": "+46 70 8", "profile_picture": "users/anna/x.jpg"},
               ["id", "username", "phone"]),
        lambda w, r: r.body == [{"id": 2, "username": "anna.l", "phone": "+46 70 8"}],
    ),
    "read every user field": (
        "get_items",
        read("User", ["id", "metafields", "cognito_sub", "tokens_valid_after", "roles.key"], query_filters={"id": 2}),
        lambda w, r: r.body == [{"id": 2, "metafields": None, "cognito_sub": ANNA.sub, "tokens_valid_after": None,
                                 "roles": [{"key": "buyer"}]}],
    ),
    "grant a role": (
        "update_items",
        update("User", {"id": NORA.id}, {"roles": link("Role", {"role": "Buyer"})}),
        lambda w, r: w.roles_of(NORA.id) == ["Buyer"],
    ),
    "revoke a role": (
        "update_items",
        update("User", {"id": ERIK.id}, {"roles": {"action": "unlink", "values": {
            "unlink_type": "unlink_matches", "query_filters": {"role": "Viewer"}}}}),
        lambda w, r: w.roles_of(ERIK.id) == ["Buyer"],
    ),
    "delete a user without a sign-in account": (
        "delete_items",
        delete("User", {"id": OLLE.id}),
        lambda w, r: w.user(OLLE.id) == {} and w.count("User") == USER_COUNT - 1,
    ),
    "create a role": (
        "create_items",
        create("Role", {"role": "Auditor", "key": "auditor"}, ["id", "role", "key"]),
        lambda w, r: r.body == [{"id": 4, "role": "Auditor", "key": "auditor"}],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "check"), ADMIN_USER_MANAGEMENT.values(), ids=ADMIN_USER_MANAGEMENT.keys()
)
def test_admin_manages_users_without_passwords(
    world: World, route: str, request_body: dict[str, Any], check: Callable[[World, Reply], bool]
) -> None:
    """GIVEN Admin and no user pool WHEN it manages users without passwords or email changes
    THEN each call succeeds with the expected effect (no Cognito call is needed)."""
    reply = succeeds(route, request_body, ADMIN)

    assert check(world, reply), reply.envelope
