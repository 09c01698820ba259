"""get_items (README "Reading"): plan -> (caller, policy) -> run, as writes.py does for writes.

`plan` checks everything that needs no database, so a bad request never waits for a connection;
the plan it answers runs with the caller's Authorizer (or none, for trusted callers): it compiles
and runs one data statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Dialect, FromClause, Text, cast, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from dataapi.boundary import parse_model
from dataapi.db.engine import ReadConnection, commit_with_next, reading
from dataapi.errors import LimitExceeded
from dataapi.query import cursor, limits, shapes
from dataapi.query.execute import compile_for, fetch
from dataapi.query.joins import Aliases
from dataapi.query.parse import GetItemsRequest, parse_filters, parse_requested
from dataapi.query.select import (
    OrderKey,
    PageQuery,
    check_cursor_mode,
    cursor_values,
    order_keys,
    page_query,
    project,
)
from dataapi.query.serialize import guard_size, sign_body, sign_rows
from dataapi.query.validate import (
    BoolOp,
    Fields,
    OrderPath,
    check_fields,
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
    check_fields(fields, settings)
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


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """A validated read, to run in a transaction: a session's, or a read's own."""

    valid: ValidRead
    settings: Settings

    def run(self, target: Session | ReadConnection, *, auth: Authorizer | None, last: bool = False) -> Result:
        """Checked by the caller's Authorizer (None: a trusted caller). `last`: nothing follows in
        the transaction, so COMMIT may travel with the page."""
        valid = self.valid
        connection = reading(target)
        filters = (
            valid.filters
            if auth is None
            else auth.authorize_read(valid.model, valid.fields, valid.filters, valid.order)
        )
        prepared = compile_read(valid, filters, connection.dialect)
        if last and prepared.query.count is None:  # with a count, the page is not the last statement
            commit_with_next(connection)
        return run(connection, prepared, self.settings)


def plan(raw: Any, registry: Registry, settings: Settings, now: datetime | None = None) -> ReadPlan:
    return ReadPlan(validate(raw, registry, settings, now or datetime.now(UTC)), settings)


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedRead:
    """A read compiled for a dialect, with the values to bind when its shape's statement is reused."""

    query: PageQuery
    per_page: int
    specs: list[str]
    fields: Fields
    compiled: SQLCompiler
    count_compiled: SQLCompiler | None
    params: dict[str, Any] | None = None  # values bound to a shape's statement (query.shapes)
    count_params: dict[str, Any] | None = None
    one_row: SQLCompiler | None = None  # the page as one row, sent instead of `compiled` (ONE_ROW_FROM)

    @property
    def page(self) -> SQLCompiler:
        """The page's statement as sent: as one row, or as rows."""
        return self.compiled if self.one_row is None else self.one_row


@dataclass(frozen=True, slots=True)
class _Shape:
    query: PageQuery
    binds: shapes.Binds | None  # None: this shape's values cannot be rebound; build it whole
    count_binds: shapes.Binds | None
    compiled: SQLCompiler
    count_compiled: SQLCompiler | None
    one_row: SQLCompiler | None


_SHAPES = shapes.Shapes()

ONE_ROW_FROM = 50
"""Pages of at least this many rows are fetched as one row (query.select.one_row), smaller ones as
rows. `make bench` (bench/reads.py), the page statement on one connection, rows vs one row: the
client's CPU per fetch (one run; it varies little) and the ratio of median wall times (the spread
of 5 runs on 2 cores shared with other test runs):

    page     plain columns: CPU, wall             to-one + nested to-many: CPU, wall
    10       0.21 / 0.18 ms, 1.01-1.08x           0.23 / 0.20 ms, 1.00-1.09x
    50       0.29 / 0.15 ms, 0.80-0.89x           0.46 / 0.26 ms, 0.90-1.24x
    100      0.50 / 0.20 ms, 0.71-0.90x           0.65 / 0.28 ms, 0.89-1.91x
    1,000    3.7 / 0.41 ms,  0.53-0.71x           5.0 / 0.63 ms,  0.80-1.05x

Through the handler, the page of 1,000 with to-many paths took 0.75-0.96x the hand-written SQL as
one row, 0.87-0.98x as rows (4 runs). One row costs the database an aggregate and its sort (a few
percent of the page), and its answer cannot overlap the client's decoding with the database's
work as rows do; it saves pg8000 decoding each row (3-5 us of CPU a row). Where the database
builds rows slowly the two nearly balance locally; on Lambda, where 512 MB is about 0.3 of a
vCPU, the client's CPU counts about three times as much. bench/reads.py sets this past
`max_per_page` to time the rows form."""


def _as_one_row(per_page: int) -> bool:
    return per_page >= ONE_ROW_FROM


def compile_read(
    valid: ValidRead, filters: BoolOp | None, dialect: Dialect, *, reuse: bool = True
) -> PreparedRead:
    """Compiled for `dialect`. With `reuse`, the statement of the read's shape is built and
    compiled once and reused with this read's values; a shape whose values cannot be rebound, or a
    read without `reuse`, is built whole."""
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
    if reuse:
        shape = shapes.abstract(filters, after)
        fields = shapes.fields_key(valid.fields)
        as_one_row = _as_one_row(valid.per_page)
        key = (dialect, fields, tuple(specs), valid.per_page, as_one_row, req.count, shape.key)
        built: _Shape = _SHAPES.get(model, key, lambda: _build(valid, shape, keys, root, aliases, dialect))
        if built.binds is not None:
            count = None if built.count_binds is None else shapes.params(built.count_binds, shape.values)
            return PreparedRead(
                query=built.query,
                per_page=valid.per_page,
                specs=specs,
                fields=valid.fields,
                compiled=built.compiled,
                count_compiled=built.count_compiled,
                params=shapes.params(built.binds, shape.values),
                count_params=count,
                one_row=built.one_row,
            )
    query = _query(valid, filters, keys, after, root, aliases)
    return PreparedRead(
        query=query,
        per_page=valid.per_page,
        specs=specs,
        fields=valid.fields,
        compiled=compile_for(query.statement, dialect),
        count_compiled=None if query.count is None else compile_for(query.count, dialect),
        one_row=None if query.one_row is None else compile_for(query.one_row, dialect),
    )


def _query(
    valid: ValidRead,
    filters: BoolOp | None,
    keys: list[OrderKey],
    after: list[Any] | None,
    root: FromClause,
    aliases: Aliases,
) -> PageQuery:
    where = compile_where(filters, root, aliases) if filters is not None and filters.children else None
    return page_query(
        valid.fields,
        where=where,
        keys=keys,
        after=after,
        limit=valid.per_page,
        root=root,
        aliases=aliases,
        with_count=valid.request.count,
        as_one_row=_as_one_row(valid.per_page),
    )


def _build(
    valid: ValidRead,
    shape: shapes.Abstract,
    keys: list[OrderKey],
    root: FromClause,
    aliases: Aliases,
    dialect: Dialect,
) -> _Shape:
    query = _query(valid, shape.filters, keys, shape.after, root, aliases)
    page = compile_for(query.statement, dialect)
    binds = shapes.binds(page, len(shape.values))
    one_row = None
    if query.one_row is not None:
        one_row = compile_for(query.one_row, dialect)
        if shapes.binds(one_row, len(shape.values)) != binds:  # the page's values, bound by other names
            binds = None
    count_binds = count_compiled = None
    if query.count is not None:
        count_slots = len(shape.values) - (0 if shape.after is None else len(shape.after))
        count_compiled = compile_for(query.count, dialect)
        count_binds = shapes.binds(count_compiled, count_slots)
        if count_binds is None:
            binds = None
    return _Shape(query, binds, count_binds, page, count_compiled, one_row)


def run(connection: ReadConnection, prepared: PreparedRead, settings: Settings) -> Result:
    page = fetch(
        connection,
        prepared.page,
        prepared.params,
        prepared.count_compiled,
        prepared.count_params,
        one_row=prepared.one_row is not None,
    )
    count("RowsRead", page.size)
    body = sign_body(page.body, prepared.fields, Files(settings))
    guard_size(body, settings.max_response_bytes)
    extra: dict[str, Any] = {"next_cursor": None}
    if page.size == prepared.per_page and page.last_keys is not None:
        extra["next_cursor"] = cursor.encode(prepared.specs, page.last_keys)
    if prepared.query.count is not None:
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
    return sign_rows([by_id[i] for i in ids if i in by_id], fields, Files(settings))
