"""Compile a validated read into one statement: PostgreSQL builds each row's JSON itself.

Requested relationships become correlated subqueries (json_agg for to-many), so a page costs one
data statement whatever its size and however many relationships it requests; no row is loaded
into ORM objects. Order is keyset-paged, NULLs placed as the b-tree index returns them. A large
page is fetched as one row (`one_row`): the driver decodes one value instead of one per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    FromClause,
    Select,
    Text,
    and_,
    cast,
    false,
    func,
    literal_column,
    or_,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from dataapi.errors import MalformedRequest
from dataapi.query.coerce import coerce
from dataapi.query.joins import Aliases, related
from dataapi.query.validate import ColumnField, Fields, OrderPath
from dataapi.registry import ColumnInfo, ModelInfo, RelationshipInfo

_ISO: ColumnElement[str] = literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'""")
_EMPTY_LIST: ColumnElement[Any] = literal_column("'[]'::json")
_UTC: ColumnElement[str] = literal_column("'UTC'")
_COMMA: ColumnElement[str] = literal_column("','")
_OPEN: ColumnElement[str] = literal_column("'['")
_CLOSE: ColumnElement[str] = literal_column("']'")
_MAX_ARGS = 100  # json_build_object takes at most 100 arguments


def _name(key: str) -> ColumnElement[Any]:
    return literal_column("'" + key.replace("'", "''") + "'")


def render(col: ColumnInfo, alias: FromClause) -> ColumnElement[Any]:
    """A column as it appears in JSON; timestamps in UTC with an explicit `Z`."""
    expr: Any = alias.c[col.key]
    if col.kind == "datetime":
        return func.to_char(func.timezone(_UTC, expr) if col.aware else expr, _ISO)
    return expr


def project(fields: Fields, alias: FromClause, aliases: Aliases) -> ColumnElement[Any]:
    args: list[ColumnElement[Any]] = []
    for entry in fields.entries:
        args.append(_name(entry.name))
        if isinstance(entry, ColumnField):
            args.append(render(entry.column, alias))
            continue
        rel = entry.relationship
        hop = related(rel, alias, aliases)
        obj = project(entry.fields, hop.target, aliases)
        if rel.uselist:
            agg = func.json_agg(aggregate_order_by(obj, hop.target.c[rel.target.pk.key]))
            query = sa_select(func.coalesce(agg, _EMPTY_LIST))
        else:
            query = sa_select(obj)
        args.append(query.select_from(hop.from_).where(hop.on).scalar_subquery())
    if len(args) <= _MAX_ARGS:
        return func.json_build_object(*args, type_=JSON)
    chunks = [func.jsonb_build_object(*args[i : i + _MAX_ARGS]) for i in range(0, len(args), _MAX_ARGS)]
    merged: ColumnElement[Any] = chunks[0]
    for chunk in chunks[1:]:
        merged = merged.op("||")(chunk)
    return cast(merged, JSON)


# ---- order and keyset -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderKey:
    spec: str
    expr: ColumnElement[Any]
    desc: bool
    column: ColumnInfo
    nullable: bool  # the column is nullable, or reached through a to-one that may be missing

    def sort(self) -> ColumnElement[Any]:
        # PostgreSQL's defaults (ASC NULLS LAST, DESC NULLS FIRST) are the orders a b-tree index serves.
        return self.expr.desc() if self.desc else self.expr.asc()

    def after(self, value: Any) -> ColumnElement[bool]:
        if value is None:  # nulls sort last ascending, first descending
            return self.expr.is_not(None) if self.desc else false()
        beyond = self.expr < value if self.desc else self.expr > value
        return or_(beyond, self.expr.is_(None)) if self.nullable and not self.desc else beyond

    def equal(self, value: Any) -> ColumnElement[bool]:
        return self.expr.is_(None) if value is None else self.expr == value


def order_keys(
    model: ModelInfo, order: tuple[OrderPath, ...], root: FromClause, aliases: Aliases
) -> list[OrderKey]:
    pk = model.pk
    if not order:
        return [OrderKey(spec="-" + pk.key, expr=root.c[pk.key], desc=True, column=pk, nullable=False)]
    keys: list[OrderKey] = []
    for entry in order:
        path, col = entry.path, entry.path.column
        assert col is not None  # validate_order only keeps paths ending in a column
        expr: Any = _through(path.hops, col, root, aliases) if path.hops else root.c[col.key]
        nullable = col.nullable or bool(path.hops)
        keys.append(OrderKey(spec=entry.spec, expr=expr, desc=entry.desc, column=col, nullable=nullable))
    if not any(k.column is pk and "." not in k.spec for k in keys):
        desc = keys[0].desc
        spec = ("-" if desc else "") + pk.key
        keys.append(OrderKey(spec=spec, expr=root.c[pk.key], desc=desc, column=pk, nullable=False))
    return keys


def _through(
    hops: tuple[RelationshipInfo, ...], col: ColumnInfo, root: FromClause, aliases: Aliases
) -> ColumnElement[Any]:
    first = related(hops[0], root, aliases)
    target, from_ = first.target, first.from_
    for rel in hops[1:]:
        nxt = related(rel, target, aliases)
        from_ = from_.join(nxt.from_, nxt.on)
        target = nxt.target
    return sa_select(target.c[col.key]).select_from(from_).where(first.on).scalar_subquery()


def keyset(keys: list[OrderKey], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order of `keys`."""
    branches = []
    for i, key in enumerate(keys):
        branches.append(
            and_(*[k.equal(v) for k, v in zip(keys[:i], values[:i], strict=True)], key.after(values[i]))
        )
    return or_(*branches)


def cursor_values(keys: list[OrderKey], raw: list[Any], now: datetime) -> list[Any]:
    return [
        None if v is None else coerce(k.column, v, "/cursor", now) for k, v in zip(keys, raw, strict=True)
    ]


# ---- the statement --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageQuery:
    """The statements of one read: the page (each row's JSON and its sort keys), and the count when
    one is asked. `one_row`: the same page aggregated into one row, the statement sent for a large
    page (None: the page is fetched as rows)."""

    statement: Select[Any]
    count: Select[Any] | None
    keys: list[OrderKey]
    one_row: Select[Any] | None = None


def one_row(page: Select[Any], keys: list[OrderKey]) -> Select[Any]:
    """`page` (rows of JSON text and sort keys k0, k1, ...) as one row: the JSON array of its rows
    in the page's order ('[]' when empty), the number of rows, and the last row's sort values.

    The order is the aggregates' own ORDER BY, not the subquery's (which PostgreSQL does not
    promise to keep): the same keys, directions and default NULL placement as the page's.
    """
    sub = page.subquery("page")
    cols = [sub.c[f"k{i}"] for i in range(len(keys))]
    order = [c.desc() if k.desc else c.asc() for c, k in zip(cols, keys, strict=True)]
    size = func.count()
    rows = func.string_agg(sub.c.row, aggregate_order_by(_COMMA, *order))
    last = [func.array_agg(aggregate_order_by(c, *order))[size].label(f"k{i}") for i, c in enumerate(cols)]
    body = func.concat(_OPEN, rows, _CLOSE).label("rows")
    return sa_select(body, size.label("size"), *last).select_from(sub)


def aggregable(keys: list[OrderKey]) -> bool:
    """Sort values are taken back from an array of them: a column of an unknown kind may itself be
    an array (its last element would not be its value), so such an order is fetched as rows."""
    return all(k.column.kind != "other" for k in keys)


def page_query(
    fields: Fields,
    *,
    where: ColumnElement[bool] | None,
    keys: list[OrderKey],
    after: list[Any] | None,
    limit: int,
    root: FromClause,
    aliases: Aliases,
    with_count: bool,
    as_one_row: bool = False,
) -> PageQuery:
    """`as_one_row`: also build the page as one row (`PageQuery.one_row`), when its keys allow."""
    row = cast(project(fields, root, aliases), Text).label("row")
    stmt = sa_select(row, *(k.expr.label(f"k{i}") for i, k in enumerate(keys))).select_from(root)
    count = None
    if where is not None:
        stmt = stmt.where(where)
    if with_count:
        count = sa_select(func.count()).select_from(root)
        if where is not None:
            count = count.where(where)
    if after is not None:
        stmt = stmt.where(keyset(keys, after))
    stmt = stmt.order_by(*(k.sort() for k in keys)).limit(limit)
    return PageQuery(stmt, count, keys, one_row(stmt, keys) if as_one_row and aggregable(keys) else None)


def check_cursor_mode(order_by: list[str] | None, cursor: int | str | None) -> None:
    if order_by and isinstance(cursor, int):
        raise MalformedRequest(
            "An integer 'cursor' pages the default order only; with 'order_by' pass back 'next_cursor'.",
            at="/cursor",
            detail="field=cursor",
        )
