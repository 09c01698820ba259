"""get_items (SPEC §3): parse -> validate -> compile -> execute -> serialize, in one transaction."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from dataapi.db import transaction
from dataapi.errors import LimitExceeded
from dataapi.query import cursor
from dataapi.query.execute import fetch
from dataapi.query.joins import Aliases
from dataapi.query.parse import GetItemsRequest, parse_filters, parse_model, parse_requested
from dataapi.query.select import ReadPlan, check_cursor_mode, cursor_values, order_keys, plan_read
from dataapi.query.serialize import guard_size, rows_json
from dataapi.query.validate import validate_fields, validate_filters
from dataapi.query.where import compile_where
from dataapi.registry import Registry, default_registry
from dataapi.settings import Settings, get_settings


@dataclass(frozen=True, slots=True)
class Result:
    status: int
    message: str
    body: str  # JSON text of the envelope's `body` array
    extra: dict[str, Any] = field(default_factory=dict)


def get_items(raw: Any) -> Result:
    settings = get_settings()
    prepared = prepare(
        raw, default_registry(), settings, datetime.now(UTC)
    )  # a bad request never waits for the DB
    with transaction() as session:
        return run(session, prepared, settings)


@dataclass(frozen=True, slots=True)
class PreparedRead:
    plan: ReadPlan
    per_page: int
    specs: list[str]


def prepare(raw: Any, registry: Registry, settings: Settings, now: datetime) -> PreparedRead:
    """Everything up to SQL: parse, validate, compile. No database needed (compile-only tests)."""
    req = parse_model(GetItemsRequest, raw)
    model = registry.model(req.model_name)
    fields = validate_fields(model, parse_requested(req.requested_data, "/requested_data"))
    filters = validate_filters(parse_filters(req.query_filters, "/query_filters"), model, now)
    per_page = settings.max_per_page if req.per_page is None else req.per_page
    if not 1 <= per_page <= settings.max_per_page:
        raise LimitExceeded(
            f"'per_page' must be between 1 and {settings.max_per_page}.",
            at="/per_page",
            detail="field=per_page",
        )
    check_cursor_mode(req.order_by, req.cursor)

    aliases = Aliases()
    root = aliases(model.table)
    keys = order_keys(model, req.order_by, root, aliases)
    specs = [k.spec for k in keys]
    after: list[Any] | None = None
    if isinstance(req.cursor, int) or (
        isinstance(req.cursor, str) and req.cursor.isdigit() and not req.order_by
    ):
        after = [int(req.cursor)]
    elif isinstance(req.cursor, str):
        after = cursor_values(keys, cursor.decode(req.cursor, specs), now)
    where = compile_where(filters, root, aliases) if filters.children else None
    return PreparedRead(
        plan_read(fields, where, keys, after, per_page, root, aliases, req.count), per_page, specs
    )


def read(
    session: Session, raw: Any, registry: Registry, settings: Settings, now: datetime | None = None
) -> Result:
    return run(session, prepare(raw, registry, settings, now or datetime.now(UTC)), settings)


def run(session: Session, prepared: PreparedRead, settings: Settings) -> Result:
    page = fetch(session, prepared.plan)
    body = rows_json(page.rows)
    guard_size(body, settings.max_response_bytes)
    extra: dict[str, Any] = {"next_cursor": None}
    if len(page.rows) == prepared.per_page and page.last_keys is not None:
        extra["next_cursor"] = cursor.encode(prepared.specs, page.last_keys)
    if prepared.plan.count is not None:
        extra["count"] = page.count
    return Result(200, "Data acquired.", body, extra)
