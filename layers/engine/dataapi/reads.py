"""get_items (SPEC §3): parse -> validate -> authorize -> compile -> execute -> serialize."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from dataapi.errors import LimitExceeded
from dataapi.files import Files
from dataapi.query import cursor, limits
from dataapi.query.execute import fetch
from dataapi.query.joins import Aliases
from dataapi.query.parse import GetItemsRequest, parse_filters, parse_model, parse_requested
from dataapi.query.select import ReadPlan, check_cursor_mode, cursor_values, order_keys, plan_read
from dataapi.query.serialize import guard_size, rows_json
from dataapi.query.validate import BoolOp, Fields, validate_fields, validate_filters
from dataapi.query.where import compile_where
from dataapi.registry import ModelInfo, Registry
from dataapi.settings import Settings
from dataapi.telemetry import count


@dataclass(frozen=True, slots=True)
class Result:
    status: int
    message: str
    body: str  # JSON text of the envelope's `body` array
    extra: dict[str, Any] = field(default_factory=dict)
    rows: int = 0  # rows written (for logs, metrics and scheduled-run summaries; not in the envelope)


@dataclass(frozen=True, slots=True)
class ValidRead:
    """A read checked against the models, not yet against the caller's grants."""

    request: GetItemsRequest
    model: ModelInfo
    fields: Fields
    filters: BoolOp
    per_page: int
    now: datetime


def validate(raw: Any, registry: Registry, settings: Settings, now: datetime) -> ValidRead:
    """Everything that needs no database: a bad request never waits for a connection."""
    req = parse_model(GetItemsRequest, raw)
    model = registry.model(req.model_name)
    limits.check_order_by(req.order_by, settings)
    fields = validate_fields(model, parse_requested(req.requested_data, "/requested_data"))
    limits.check_fields(fields, settings)
    filters = validate_filters(parse_filters(req.query_filters, "/query_filters"), model, now)
    per_page = settings.max_per_page if req.per_page is None else req.per_page
    if not 1 <= per_page <= settings.max_per_page:
        raise LimitExceeded(
            f"'per_page' must be between 1 and {settings.max_per_page}.",
            at="/per_page",
            detail="field=per_page",
        )
    check_cursor_mode(req.order_by, req.cursor)
    return ValidRead(req, model, fields, filters, per_page, now)


@dataclass(frozen=True, slots=True)
class PreparedRead:
    plan: ReadPlan
    per_page: int
    specs: list[str]
    fields: Fields


def compile_read(valid: ValidRead, filters: BoolOp | None) -> PreparedRead:
    req, model = valid.request, valid.model
    aliases = Aliases()
    root = aliases(model.table)
    keys = order_keys(model, req.order_by, root, aliases)
    specs = [k.spec for k in keys]
    after: list[Any] | None = None
    if isinstance(req.cursor, int) or (
        isinstance(req.cursor, str) and req.cursor.isdigit() and not req.order_by
    ):
        after = cursor_values(keys, [req.cursor], valid.now)  # the id column's type and range
    elif isinstance(req.cursor, str):
        after = cursor_values(keys, cursor.decode(req.cursor, specs), valid.now)
    where = compile_where(filters, root, aliases) if filters is not None and filters.children else None
    plan = plan_read(valid.fields, where, keys, after, valid.per_page, root, aliases, req.count)
    return PreparedRead(plan, valid.per_page, specs, valid.fields)


def prepare(raw: Any, registry: Registry, settings: Settings, now: datetime) -> PreparedRead:
    """Parse, validate and compile with no policy (engine tests and trusted callers)."""
    valid = validate(raw, registry, settings, now)
    return compile_read(valid, valid.filters)


def read(
    session: Session, raw: Any, registry: Registry, settings: Settings, now: datetime | None = None
) -> Result:
    return run(session, prepare(raw, registry, settings, now or datetime.now(UTC)), settings)


def run(session: Session, prepared: PreparedRead, settings: Settings) -> Result:
    page = fetch(session, prepared.plan)
    count("RowsRead", len(page.rows))
    body = rows_json(Files(settings).sign_rows(page.rows, prepared.fields))
    guard_size(body, settings.max_response_bytes)
    extra: dict[str, Any] = {"next_cursor": None}
    if len(page.rows) == prepared.per_page and page.last_keys is not None:
        extra["next_cursor"] = cursor.encode(prepared.specs, page.last_keys)
    if prepared.plan.count is not None:
        extra["count"] = page.count
    return Result(200, "Data acquired.", body, extra)
