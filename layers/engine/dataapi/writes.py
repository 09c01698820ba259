"""create_items, update_items, delete_items (SPEC §4): one request or a batch, one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from dataapi.errors import Forbidden, MalformedRequest, NotFound
from dataapi.files import Files
from dataapi.mutate.apply import Budget, RowHook, Writer
from dataapi.mutate.requests import CreateRequest, DeleteRequest, UpdateRequest, parse_batch
from dataapi.mutate.values import Context, Limits, validate_rows, validate_values
from dataapi.policy import Operation
from dataapi.query import limits
from dataapi.query.joins import Aliases
from dataapi.query.parse import parse_filters, parse_requested
from dataapi.query.select import project
from dataapi.query.validate import BoolOp, Fields, validate_fields, validate_filters
from dataapi.reads import Result
from dataapi.registry import ModelInfo, Registry
from dataapi.settings import Settings, get_settings
from dataapi.telemetry import count

if TYPE_CHECKING:
    from dataapi.authorize import Authorizer

Hooks = dict[str, RowHook]

Work = Callable[[Session, str, "Authorizer | None", Hooks], Result]
"""A validated write, run in a transaction as `actor`, checked by the caller's Authorizer (or none),
with per-row hooks by model name (User rows mirror Cognito users)."""


def create(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    """Run a create with no policy (engine tests and trusted callers)."""
    return plan_create(raw, registry, settings)(session, actor, None, {})


def update(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    return plan_update(raw, registry, settings)(session, actor, None, {})


def delete(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    return plan_delete(raw, registry, settings)(session, actor, None, {})


def plan_create(raw: Any, registry: Registry, settings: Settings) -> Work:
    requests, batch = parse_batch(CreateRequest, raw, settings.max_batch)
    ctx = _context(settings)
    planned = []
    for req, base in requests:  # validate every member before the first statement
        model = registry.model(req.model_name, base + "/model_name")
        rows = validate_rows(model, req.object_values, base + "/object_values", ctx, creating=True)
        planned.append((req, base, model, rows, _fields(model, req.requested_data, base)))

    def work(session: Session, actor: str, auth: Authorizer | None, hooks: Hooks) -> Result:
        if auth is not None:
            for _req, base, _model, rows, fields in planned:
                for row in rows:
                    auth.write("create", row)
                if fields is not None:
                    auth.read(fields, base + "/requested_data")
        writer = Writer(session, Budget(settings.max_rows_touched), actor, auth, hooks)
        bodies = []
        for _req, _base, model, rows, fields in planned:
            ids = writer.create(model, rows)
            bodies.append(_rows(session, model, fields, ids) if fields else ["{}"] * len(ids))
        return _result(bodies, batch, [r.reference or r.model_name for r, *_ in planned], "created", writer)

    return work


def plan_update(raw: Any, registry: Registry, settings: Settings, missing_ok: bool = False) -> Work:
    requests, batch = parse_batch(UpdateRequest, raw, settings.max_batch)
    ctx = _context(settings)
    planned = []
    for req, base in requests:
        model = registry.model(req.model_name, base + "/model_name")
        values = validate_values(model, req.object_values, base + "/object_values", ctx, creating=False)
        filters = _filters(model, req.query_filters, req.allow_all, base + "/query_filters", ctx)
        planned.append((req, base, model, values, filters, _fields(model, req.requested_data, base)))

    def work(session: Session, actor: str, auth: Authorizer | None, hooks: Hooks) -> Result:
        members = planned
        if auth is not None:
            members = [
                (
                    req,
                    base,
                    model,
                    values,
                    _authorized(auth, model, "update", filters, base),
                    fields,
                )
                for req, base, model, values, filters, fields in planned
            ]
            for _req, base, _model, values, _filters, fields in members:
                auth.write("update", values)
                if fields is not None:
                    auth.read(fields, base + "/requested_data")
        writer = Writer(session, Budget(settings.max_rows_touched), actor, auth, hooks, missing_ok)
        bodies = []
        for (req, base, model, values, filters, fields), asked in zip(
            members, [p[4] for p in planned], strict=True
        ):
            at = base + "/query_filters"
            with _own_rows(writer, model, asked, filters, at):
                ids = writer.update(model, values, filters, req.update_type == "first_match", at)
            bodies.append(_rows(session, model, fields, ids) if fields else [])
        return _result(bodies, batch, [r.reference or r.model_name for r, *_ in planned], "updated", writer)

    return work


def plan_delete(raw: Any, registry: Registry, settings: Settings) -> Work:
    requests, batch = parse_batch(DeleteRequest, raw, settings.max_batch)
    ctx = _context(settings)
    planned = []
    for req, base in requests:
        model = registry.model(req.model_name, base + "/model_name")
        at = base + "/object_values"
        if req.deletion is None:
            raise MalformedRequest(
                "'deletion_type' is required (delete_first or delete_all).", at=at + "/deletion_type"
            )
        allow_all = req.allow_all or req.object_values.allow_all
        filters = _filters(model, req.object_values.query_filters, allow_all, at + "/query_filters", ctx)
        also = req.object_values.also_do
        also_do = validate_values(model, also, at + "/also_do", ctx, creating=False) if also else None
        planned.append((req, at, model, filters, also_do))

    def work(session: Session, actor: str, auth: Authorizer | None, hooks: Hooks) -> Result:
        members = planned
        if auth is not None:
            members = [
                (
                    req,
                    at,
                    model,
                    _authorized(auth, model, "delete", filters, at.removesuffix("/object_values")),
                    also_do,
                )
                for req, at, model, filters, also_do in planned
            ]
            for _req, _at, _model, _filters, also_do in members:
                if also_do is not None:
                    auth.write("update", also_do)
        writer = Writer(session, Budget(settings.max_rows_touched), actor, auth, hooks)
        if auth is not None:
            for _req, at, model, filters, _also in members:
                _not_own_account(writer, auth, model, filters, at)
        for (req, at, model, filters, also_do), asked in zip(members, [p[3] for p in planned], strict=True):
            with _own_rows(writer, model, asked, filters, at + "/query_filters"):
                writer.delete(model, filters, req.deletion == "delete_first", also_do, at + "/query_filters")
        references = [r.reference or r.model_name for r, *_ in planned]
        return _result([[] for _ in planned], batch, references, "deleted", writer)

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
            raise Forbidden(
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
        raise Forbidden(
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


def _filters(model: ModelInfo, raw: dict[str, Any], allow_all: bool, at: str, ctx: Context) -> BoolOp | None:
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


def _rows(session: Session, model: ModelInfo, fields: Fields, ids: list[Any]) -> list[str]:
    """The requested data of written rows, built by PostgreSQL as reads build it, in `ids` order."""
    aliases = Aliases()
    root = aliases(model.table)
    pk = root.c[model.pk.key]
    query = select(pk, cast(project(fields, root, aliases), Text)).select_from(root).where(pk.in_(ids))
    by_id = {row_id: text for row_id, text in session.execute(query)}
    return Files(get_settings()).sign_rows([by_id[i] for i in ids if i in by_id], fields)


def _result(bodies: list[list[str]], batch: bool, references: list[str], verb: str, writer: Writer) -> Result:
    parts = ["[" + ",".join(rows) + "]" for rows in bodies]
    body = "[" + ",".join(parts) + "]" if batch else parts[0]
    names = ", ".join(dict.fromkeys(references))
    count("RowsWritten", writer.budget.used)
    return Result(201, f"{names} {verb}!", body, rows=writer.budget.used)
