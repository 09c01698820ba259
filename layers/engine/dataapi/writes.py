"""create_items, update_items, delete_items (docs/contract.md §4): one request or a batch, one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from dataapi.errors import MalformedRequest, NotFound, PolicyRefusal
from dataapi.identity.policy import Operation
from dataapi.mutate.apply import Budget, RowHook, Writer
from dataapi.mutate.requests import CreateRequest, DeleteRequest, UpdateRequest, parse_batch
from dataapi.mutate.values import Context, Limits, RowValues, validate_rows, validate_values
from dataapi.query import limits
from dataapi.query.parse import parse_filters, parse_requested
from dataapi.query.validate import BoolOp, Fields, validate_fields, validate_filters
from dataapi.reads import read_back
from dataapi.registry import ModelInfo, Registry
from dataapi.result import Result
from dataapi.settings import Settings
from dataapi.storage.files import Files
from dataapi.telemetry import count

if TYPE_CHECKING:
    from dataapi.identity.authorize import Authorizer

Hooks = dict[str, RowHook]

Work = Callable[[Session, str, "Authorizer | None", Hooks], Result]
"""A validated write, run in a transaction as `actor`, checked by the caller's Authorizer (or none),
with per-row hooks by model name (User rows mirror Cognito users)."""


def create_without_policy(
    session: Session, raw: Any, actor: str, registry: Registry, settings: Settings
) -> Result:
    """Run a create with no policy (engine tests and trusted callers)."""
    return plan_create(raw, registry, settings)(session, actor, None, {})


def update_without_policy(
    session: Session, raw: Any, actor: str, registry: Registry, settings: Settings
) -> Result:
    return plan_update(raw, registry, settings)(session, actor, None, {})


def delete_without_policy(
    session: Session, raw: Any, actor: str, registry: Registry, settings: Settings
) -> Result:
    return plan_delete(raw, registry, settings)(session, actor, None, {})


@dataclass(frozen=True, slots=True)
class CreateMember:
    """One member of a create batch, validated."""

    reference: str
    base: str  # pointer prefix of the member: "" alone, "/2" in a batch
    model: ModelInfo
    rows: list[RowValues]
    fields: Fields | None


@dataclass(frozen=True, slots=True)
class UpdateMember:
    reference: str
    base: str
    model: ModelInfo
    values: RowValues
    filters: BoolOp | None  # as asked; the caller's row rule is added when the work runs
    fields: Fields | None
    first: bool


@dataclass(frozen=True, slots=True)
class DeleteMember:
    reference: str
    at: str  # pointer to the member's object_values
    model: ModelInfo
    filters: BoolOp | None
    also_do: RowValues | None
    first: bool


def plan_create(raw: Any, registry: Registry, settings: Settings) -> Work:
    requests, batch = parse_batch(CreateRequest, raw, settings.max_batch)
    ctx = _context(settings)
    members = []
    for req, base in requests:  # validate every member before the first statement
        model = registry.model(req.model_name, base + "/model_name")
        rows = validate_rows(model, req.object_values, base + "/object_values", ctx, creating=True)
        fields = _fields(model, req.requested_data, base)
        members.append(CreateMember(req.reference or req.model_name, base, model, rows, fields))

    def work(session: Session, actor: str, auth: Authorizer | None, hooks: Hooks) -> Result:
        if auth is not None:
            for m in members:
                for row in m.rows:
                    auth.write("create", row)
                if m.fields is not None:
                    auth.read(m.fields, m.base + "/requested_data")
        writer = Writer(session, Budget(settings.max_rows_touched), actor, auth, hooks)
        # Members without requested_data may be written together (their bodies need no reading).
        created = writer.create_members([(m.model, m.rows, m.fields is None) for m in members])
        bodies = [
            read_back(session, m.model, m.fields, ids, settings) if m.fields else ["{}"] * len(ids)
            for m, ids in zip(members, created, strict=True)
        ]
        return _result(bodies, batch, [m.reference for m in members], "created", writer)

    return work


def plan_update(raw: Any, registry: Registry, settings: Settings, missing_ok: bool = False) -> Work:
    requests, batch = parse_batch(UpdateRequest, raw, settings.max_batch)
    ctx = _context(settings)
    members = []
    for req, base in requests:
        model = registry.model(req.model_name, base + "/model_name")
        values = validate_values(model, req.object_values, base + "/object_values", ctx, creating=False)
        filters = _target_filters(model, req.query_filters, req.allow_all, base + "/query_filters", ctx)
        fields = _fields(model, req.requested_data, base)
        reference = req.reference or req.model_name
        first = req.update_type == "first_match"
        members.append(UpdateMember(reference, base, model, values, filters, fields, first))

    def work(session: Session, actor: str, auth: Authorizer | None, hooks: Hooks) -> Result:
        allowed = [m.filters for m in members]
        if auth is not None:
            allowed = [_authorized(auth, m.model, "update", m.filters, m.base) for m in members]
            for m in members:
                auth.write("update", m.values)
                if m.fields is not None:
                    auth.read(m.fields, m.base + "/requested_data")
        writer = Writer(session, Budget(settings.max_rows_touched), actor, auth, hooks, missing_ok)
        bodies = []
        for m, filters in zip(members, allowed, strict=True):
            at = m.base + "/query_filters"
            with _own_rows(writer, m.model, m.filters, filters, at):
                ids = writer.update(m.model, m.values, filters, m.first, at)
            bodies.append(read_back(session, m.model, m.fields, ids, settings) if m.fields else [])
        return _result(bodies, batch, [m.reference for m in members], "updated", writer)

    return work


def plan_delete(raw: Any, registry: Registry, settings: Settings) -> Work:
    requests, batch = parse_batch(DeleteRequest, raw, settings.max_batch)
    ctx = _context(settings)
    members = []
    for req, base in requests:
        model = registry.model(req.model_name, base + "/model_name")
        at = base + "/object_values"
        if req.deletion is None:
            raise MalformedRequest(
                "'deletion_type' is required (delete_first or delete_all).", at=at + "/deletion_type"
            )
        allow_all = req.allow_all or req.object_values.allow_all
        filters = _target_filters(
            model, req.object_values.query_filters, allow_all, at + "/query_filters", ctx
        )
        also = req.object_values.also_do
        also_do = validate_values(model, also, at + "/also_do", ctx, creating=False) if also else None
        first = req.deletion == "delete_first"
        members.append(DeleteMember(req.reference or req.model_name, at, model, filters, also_do, first))

    def work(session: Session, actor: str, auth: Authorizer | None, hooks: Hooks) -> Result:
        allowed = [m.filters for m in members]
        if auth is not None:
            base = [m.at.removesuffix("/object_values") for m in members]
            allowed = [
                _authorized(auth, m.model, "delete", m.filters, b) for m, b in zip(members, base, strict=True)
            ]
            for m in members:
                if m.also_do is not None:
                    auth.write("update", m.also_do)
        writer = Writer(session, Budget(settings.max_rows_touched), actor, auth, hooks)
        if auth is not None:
            for m, filters in zip(members, allowed, strict=True):
                _not_own_account(writer, auth, m.model, filters, m.at)
        for m, filters in zip(members, allowed, strict=True):
            at = m.at + "/query_filters"
            with _own_rows(writer, m.model, m.filters, filters, at):
                writer.delete(m.model, filters, m.first, m.also_do, at)
        return _result([[] for _ in members], batch, [m.reference for m in members], "deleted", writer)

    return work


def _context(settings: Settings) -> Context:
    return Context(datetime.now(UTC), Limits.of(settings), Files(settings))


@contextmanager
def _own_rows(
    writer: Writer, model: ModelInfo, asked: BoolOp | None, allowed: BoolOp | None, at: str
) -> Iterator[None]:
    """When a row rule hid every match, say 403 (rows exist, not yours), not 404."""
    try:
        yield
    except NotFound:
        if (
            allowed is not asked
            and writer.session.scalars(writer.matching_ids(model, asked, True)).first() is not None
        ):
            raise PolicyRefusal(
                f"You may only change your own {model.name} rows.", at=at, detail="rows=own"
            ) from None
        raise


def _not_own_account(
    writer: Writer, auth: Authorizer, model: ModelInfo, filters: BoolOp | None, at: str
) -> None:
    """Nobody deletes their own account or a role it holds: that changes roles on their account."""
    own = auth.own_account(model)
    if own is None:
        return
    mine = BoolOp("and", (own,) if filters is None else (filters, own))
    if writer.session.scalars(writer.matching_ids(model, mine, True)).first() is not None:
        raise PolicyRefusal(
            f"You may not delete your own account or a role it holds ({model.name}).",
            at=at + "/query_filters",
            detail=f"model={model.name} self-grant",
        )


def _authorized(
    auth: Authorizer, model: ModelInfo, op: Operation, filters: BoolOp | None, at: str
) -> BoolOp | None:
    """Check the operation and every filter path against the grants; add the row rule."""
    auth.grant(model, op, at)
    auth.filters(filters, model, op)
    return auth.restrict(model, op, filters)


def _target_filters(
    model: ModelInfo, raw: dict[str, Any], allow_all: bool, at: str, ctx: Context
) -> BoolOp | None:
    if not raw:
        if allow_all:
            return None
        raise MalformedRequest(
            "'query_filters' is empty: that would touch every row. Send filters, or \"allow_all\": true.",
            at=at,
            detail="field=query_filters",
        )
    return validate_filters(parse_filters(raw, at), model, ctx.now)


def _fields(model: ModelInfo, requested: list | None, base: str) -> Fields | None:
    if not requested:
        return None
    fields = validate_fields(model, parse_requested(requested, base + "/requested_data"))
    limits.check_fields(fields)
    return fields


def _result(bodies: list[list[str]], batch: bool, references: list[str], verb: str, writer: Writer) -> Result:
    parts = ["[" + ",".join(rows) + "]" for rows in bodies]
    body = "[" + ",".join(parts) + "]" if batch else parts[0]
    names = ", ".join(dict.fromkeys(references))
    count("RowsWritten", writer.budget.used)
    return Result(201, f"{names} {verb}!", body, rows=writer.budget.used)
