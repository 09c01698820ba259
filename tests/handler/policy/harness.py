"""The access-policy tests' harness: callers, the database they act on, events and checks.

The tests (test_policy_*.py) run the access policy (docs/contract.md §7) through the real handlers,
in-process, on committed seed data. Every test gets (the `world` fixture, conftest.py) a fresh
migrated database holding `tests/fixtures/seed.py` plus two users, with Cognito subjects for the
callers:

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
refusal is checked to have written nothing (every table compared row by row before and after).
Cognito is not configured here (no user pool): User writes that need it answer 503.

The expectations are written from docs/contract.md §7, not derived from policy.json, so a policy file that
drifts from docs/contract.md fails here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from tests.handler import support
from tests.handler.support import Reply
from tests.support.callers import Who, claims_of

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

ADMIN = Who("admin", 1, "admin@example.com", "seed-sub-admin", ("Admin",))
ANNA = Who("anna", 2, "anna@beyo.se", "policy-sub-anna", ("Buyer",))
ERIK = Who("erik", 3, "erik@example.com", "policy-sub-erik", ("Buyer", "Viewer"))
NORA = Who("nora", 4, "nora@example.com", "policy-sub-nora", ())
VERA = Who("vera", 5, "vera@example.com", "policy-sub-vera", ("Viewer",))
OLLE = Who("olle", 6, "Olle.Berg@Example.com", None, ("Buyer",))
PEOPLE = (ADMIN, ANNA, ERIK, NORA, VERA, OLLE)
USER_COUNT = len(PEOPLE)


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
    assert reply.server_message.startswith(("Forbidden", "PolicyRefusal")), reply.envelope
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


def through(values: dict[str, Any]) -> dict[str, Any]:
    return {"action": "create_through_rel", "values": values}


# ---- 1. every cell of the default policy -------------------------------------------------------

ALL = frozenset(OPS)
# docs/contract.md §7, "Defaults": Admin everything; Buyer as listed; any other role (Viewer) nothing.
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
