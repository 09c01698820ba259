"""create_items, update_items, delete_items (SPEC §4): one request or a batch, one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from dataapi.db import run_in_transaction
from dataapi.errors import MalformedRequest
from dataapi.mutate.apply import Budget, Writer
from dataapi.mutate.requests import CreateRequest, DeleteRequest, UpdateRequest, parse_batch
from dataapi.mutate.values import Context, Limits, validate_rows, validate_values
from dataapi.query.joins import Aliases
from dataapi.query.parse import parse_filters, parse_requested
from dataapi.query.select import project
from dataapi.query.validate import BoolOp, Fields, validate_fields, validate_filters
from dataapi.reads import Result
from dataapi.registry import ModelInfo, Registry, default_registry
from dataapi.settings import Settings, get_settings

Work = Callable[[Session], Result]
"""A validated write, ready to run in a transaction: bad requests are refused before any SQL."""


def create_items(raw: Any, actor: str) -> Result:
    return run_in_transaction(plan_create(raw, actor, default_registry(), get_settings()))


def update_items(raw: Any, actor: str) -> Result:
    return run_in_transaction(plan_update(raw, actor, default_registry(), get_settings()))


def delete_items(raw: Any, actor: str) -> Result:
    return run_in_transaction(plan_delete(raw, actor, default_registry(), get_settings()))


def create(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    return plan_create(raw, actor, registry, settings)(session)


def update(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    return plan_update(raw, actor, registry, settings)(session)


def delete(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    return plan_delete(raw, actor, registry, settings)(session)


def plan_create(raw: Any, actor: str, registry: Registry, settings: Settings) -> Work:
    requests, batch = parse_batch(CreateRequest, raw, settings.max_batch)
    ctx = _context(actor, settings)
    planned = []
    for req, base in requests:  # validate every member before the first statement
        model = registry.model(req.model_name, base + "/model_name")
        rows = validate_rows(model, req.object_values, base + "/object_values", ctx, creating=True)
        planned.append((req, base, model, rows, _fields(model, req.requested_data, base)))

    def work(session: Session) -> Result:
        writer = Writer(session, Budget(settings.max_rows_touched))
        bodies = []
        for _req, _base, model, rows, fields in planned:
            ids = writer.create(model, rows)
            bodies.append(_rows(session, model, fields, ids) if fields else ["{}"] * len(ids))
        return _result(bodies, batch, [r.reference or r.model_name for r, *_ in planned], "created")

    return work


def plan_update(raw: Any, actor: str, registry: Registry, settings: Settings) -> Work:
    requests, batch = parse_batch(UpdateRequest, raw, settings.max_batch)
    ctx = _context(actor, settings)
    planned = []
    for req, base in requests:
        model = registry.model(req.model_name, base + "/model_name")
        values = validate_values(model, req.object_values, base + "/object_values", ctx, creating=False)
        filters = _filters(model, req.query_filters, req.allow_all, base + "/query_filters", ctx)
        planned.append((req, base, model, values, filters, _fields(model, req.requested_data, base)))

    def work(session: Session) -> Result:
        writer = Writer(session, Budget(settings.max_rows_touched))
        bodies = []
        for req, base, model, values, filters, fields in planned:
            ids = writer.update(
                model, values, filters, req.update_type == "first_match", base + "/query_filters"
            )
            bodies.append(_rows(session, model, fields, ids) if fields else [])
        return _result(bodies, batch, [r.reference or r.model_name for r, *_ in planned], "updated")

    return work


def plan_delete(raw: Any, actor: str, registry: Registry, settings: Settings) -> Work:
    requests, batch = parse_batch(DeleteRequest, raw, settings.max_batch)
    ctx = _context(actor, settings)
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

    def work(session: Session) -> Result:
        writer = Writer(session, Budget(settings.max_rows_touched))
        for req, at, model, filters, also_do in planned:
            writer.delete(model, filters, req.deletion == "delete_first", also_do, at + "/query_filters")
        references = [r.reference or r.model_name for r, *_ in planned]
        return _result([[] for _ in planned], batch, references, "deleted")

    return work


def _context(actor: str, settings: Settings) -> Context:
    return Context(datetime.now(UTC), actor, Limits.of(settings))


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
    return validate_fields(model, parse_requested(requested, base + "/requested_data"))


def _rows(session: Session, model: ModelInfo, fields: Fields, ids: list[Any]) -> list[str]:
    """The requested data of written rows, built by PostgreSQL as reads build it, in `ids` order."""
    aliases = Aliases()
    root = aliases(model.table)
    pk = root.c[model.pk.key]
    query = select(pk, cast(project(fields, root, aliases), Text)).select_from(root).where(pk.in_(ids))
    by_id = {row_id: text for row_id, text in session.execute(query)}
    return [by_id[i] for i in ids if i in by_id]


def _result(bodies: list[list[str]], batch: bool, references: list[str], verb: str) -> Result:
    parts = ["[" + ",".join(rows) + "]" for rows in bodies]
    body = "[" + ",".join(parts) + "]" if batch else parts[0]
    names = ", ".join(dict.fromkeys(references))
    return Result(201, f"{names} {verb}!", body)
