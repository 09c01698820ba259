"""get_items (README "Reading"): plan -> (caller, policy) -> run, as writes.py does for writes.

`plan` checks everything that needs no database, so a bad request never waits for a connection;
the work it returns takes the caller's Authorizer (or none, for trusted callers), then compiles
and runs one data statement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Dialect, FromClause, Text, cast, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from dataapi.db.engine import ReadConnection, commit_with_next, reading
from dataapi.errors import LimitExceeded
from dataapi.query import cursor, limits, shapes
from dataapi.query.execute import compile_for, fetch
from dataapi.query.joins import Aliases
from dataapi.query.parse import GetItemsRequest, parse_filters, parse_model, parse_requested
from dataapi.query.select import (
    OrderKey,
    ReadPlan,
    check_cursor_mode,
    cursor_values,
    order_keys,
    plan_read,
    project,
)
from dataapi.query.serialize import guard_size, rows_json
from dataapi.query.validate import (
    BoolOp,
    Fields,
    OrderPath,
    validate_fields,
    validate_filters,
    validate_order,
)
from dataapi.query.where import compile_where
from dataapi.registry import ModelInfo, Registry
from dataapi.result import Result
from dataapi.settings import Settings
from dataapi.storage.files import Files
from dataapi.telemetry import count

if TYPE_CHECKING:
    from dataapi.identity.authorize import Authorizer

ReadWork = Callable[[Session | ReadConnection, "Authorizer | None", bool], Result]
"""A validated read, run in a transaction (a session's, or a read's own), checked by the caller's
Authorizer (or none)."""


@dataclass(frozen=True, slots=True)
class ValidRead:
    """A read checked against the models, not yet against the caller's grants."""

    request: GetItemsRequest
    model: ModelInfo
    fields: Fields
    filters: BoolOp
    order: tuple[OrderPath, ...]
    per_page: int
    now: datetime


def validate(raw: Any, registry: Registry, settings: Settings, now: datetime) -> ValidRead:
    req = parse_model(GetItemsRequest, raw)
    model = registry.model(req.model_name)
    limits.check_order_by(req.order_by, settings)
    fields = validate_fields(model, parse_requested(req.requested_data, "/requested_data"))
    limits.check_fields(fields, settings)
    filters = validate_filters(parse_filters(req.query_filters, "/query_filters"), model, now)
    order = validate_order(model, req.order_by)
    per_page = settings.max_per_page if req.per_page is None else req.per_page
    if not 1 <= per_page <= settings.max_per_page:
        raise LimitExceeded(
            f"'per_page' must be between 1 and {settings.max_per_page}.",
            at="/per_page",
            detail="field=per_page",
        )
    check_cursor_mode(req.order_by, req.cursor)
    return ValidRead(req, model, fields, filters, order, per_page, now)


def plan(raw: Any, registry: Registry, settings: Settings, now: datetime | None = None) -> ReadWork:
    valid = validate(raw, registry, settings, now or datetime.now(UTC))

    def work(session: Session | ReadConnection, auth: Authorizer | None, last: bool = False) -> Result:
        """`last`: nothing follows in the transaction, so COMMIT may travel with the page."""
        connection = reading(session)
        filters = (
            valid.filters
            if auth is None
            else auth.authorize_read(valid.model, valid.fields, valid.filters, valid.order)
        )
        prepared = compile_read(valid, filters, connection.dialect)
        if last and prepared.plan.count is None:  # with a count, the page is not the last statement
            commit_with_next(connection)
        return run(connection, prepared, settings)

    return work


def read_without_policy(
    session: Session, raw: Any, registry: Registry, settings: Settings, now: datetime | None = None
) -> Result:
    """Engine tests and trusted callers."""
    return plan(raw, registry, settings, now)(session, None, False)


@dataclass(frozen=True, slots=True)
class PreparedRead:
    plan: ReadPlan
    per_page: int
    specs: list[str]
    fields: Fields
    params: dict[str, Any] | None = None  # values bound to a shape's statement (query.shapes)
    count_params: dict[str, Any] | None = None
    compiled: SQLCompiler | None = None  # the statements compiled for a dialect (compile_read)
    count_compiled: SQLCompiler | None = None


@dataclass(frozen=True, slots=True)
class _Shape:
    plan: ReadPlan
    binds: shapes.Binds | None  # None: this shape's values cannot be rebound; build it whole
    count_binds: shapes.Binds | None
    compiled: SQLCompiler
    count_compiled: SQLCompiler | None


_SHAPES = shapes.Shapes()


def compile_read(valid: ValidRead, filters: BoolOp | None, dialect: Dialect | None = None) -> PreparedRead:
    """With a dialect, compiled for it: the statement of the read's shape is built and compiled
    once and reused."""
    req, model = valid.request, valid.model
    aliases = Aliases()
    root = aliases(model.table)
    keys = order_keys(model, valid.order, root, aliases)
    specs = [k.spec for k in keys]
    after: list[Any] | None = None
    if isinstance(req.cursor, int) or (
        isinstance(req.cursor, str) and req.cursor.isdigit() and not req.order_by
    ):
        after = cursor_values(keys, [req.cursor], valid.now)  # the id column's type and range
    elif isinstance(req.cursor, str):
        after = cursor_values(keys, cursor.decode(req.cursor, specs), valid.now)
    if dialect is not None:
        shape = shapes.abstract(filters, after)
        fields = shapes.fields_key(valid.fields)
        key = (dialect, fields, tuple(specs), valid.per_page, req.count, shape.key)  # compiled for it
        built: _Shape = _SHAPES.get(model, key, lambda: _build(valid, shape, keys, root, aliases, dialect))
        if built.binds is not None:
            count = None if built.count_binds is None else shapes.params(built.count_binds, shape.values)
            return PreparedRead(
                built.plan,
                valid.per_page,
                specs,
                valid.fields,
                shapes.params(built.binds, shape.values),
                count,
                built.compiled,
                built.count_compiled,
            )
    read_plan = _plan(valid, filters, keys, after, root, aliases)
    if dialect is None:
        return PreparedRead(read_plan, valid.per_page, specs, valid.fields)
    count_compiled = None if read_plan.count is None else compile_for(read_plan.count, dialect)
    return PreparedRead(
        read_plan,
        valid.per_page,
        specs,
        valid.fields,
        compiled=compile_for(read_plan.statement, dialect),
        count_compiled=count_compiled,
    )


def _plan(
    valid: ValidRead,
    filters: BoolOp | None,
    keys: list[OrderKey],
    after: list[Any] | None,
    root: FromClause,
    aliases: Aliases,
) -> ReadPlan:
    where = compile_where(filters, root, aliases) if filters is not None and filters.children else None
    return plan_read(valid.fields, where, keys, after, valid.per_page, root, aliases, valid.request.count)


def _build(
    valid: ValidRead,
    shape: shapes.Abstract,
    keys: list[OrderKey],
    root: FromClause,
    aliases: Aliases,
    dialect: Dialect,
) -> _Shape:
    plan = _plan(valid, shape.filters, keys, shape.after, root, aliases)
    page = compile_for(plan.statement, dialect)
    binds = shapes.binds(page, len(shape.values))
    count_binds = count_compiled = None
    if plan.count is not None:
        count_slots = len(shape.values) - (0 if shape.after is None else len(shape.after))
        count_compiled = compile_for(plan.count, dialect)
        count_binds = shapes.binds(count_compiled, count_slots)
        if count_binds is None:
            binds = None
    return _Shape(plan, binds, count_binds, page, count_compiled)


def prepare(raw: Any, registry: Registry, settings: Settings, now: datetime) -> PreparedRead:
    """Parse, validate and compile with no policy (compile-only engine tests)."""
    valid = validate(raw, registry, settings, now)
    return compile_read(valid, valid.filters)


def run(connection: ReadConnection, prepared: PreparedRead, settings: Settings) -> Result:
    assert prepared.compiled is not None  # compiled for the connection's dialect
    page = fetch(
        connection, prepared.compiled, prepared.params, prepared.count_compiled, prepared.count_params
    )
    count("RowsRead", len(page.rows))
    body = rows_json(Files(settings).sign_rows(page.rows, prepared.fields))
    guard_size(body, settings.max_response_bytes)
    extra: dict[str, Any] = {"next_cursor": None}
    if len(page.rows) == prepared.per_page and page.last_keys is not None:
        extra["next_cursor"] = cursor.encode(prepared.specs, page.last_keys)
    if prepared.plan.count is not None:
        extra["count"] = page.count
    return Result(200, "Data acquired.", body, extra)


def read_back(
    session: Session, model: ModelInfo, fields: Fields, ids: list[Any], settings: Settings
) -> list[str]:
    """The requested data of rows a write touched, built as reads build it, in `ids` order."""
    aliases = Aliases()
    root = aliases(model.table)
    pk = root.c[model.pk.key]
    query = select(pk, cast(project(fields, root, aliases), Text)).select_from(root).where(pk.in_(ids))
    by_id = {row_id: text for row_id, text in session.execute(query)}
    return Files(settings).sign_rows([by_id[i] for i in ids if i in by_id], fields)
