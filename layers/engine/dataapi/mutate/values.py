"""Validate `object_values` (docs/contract.md §4.4) into typed row values and relationship actions.

Everything is checked before the first statement: names against the mapper, values against
column types, actions against their grammar, and the request limits. Server-managed columns are
ignored as docs/contract.md §4.4 says (clients resend `id`); every other unknown name is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dataapi.errors import LimitExceeded, MalformedRequest, UnknownField, WrongValueType, pointer
from dataapi.query.coerce import coerce
from dataapi.query.parse import parse_filters
from dataapi.query.validate import BoolOp, validate_filters
from dataapi.registry import ColumnInfo, ModelInfo, RelationshipInfo
from dataapi.settings import Settings
from dataapi.storage.files import Files
from dataapi.text import printable


@dataclass(frozen=True, slots=True)
class Limits:
    rows_per_list: int
    depth: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_rows_per_list, settings.max_depth)


@dataclass(slots=True)
class RowValues:
    model: ModelInfo
    columns: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    at: str = ""
    write_only: dict[str, str] = field(default_factory=dict)  # e.g. User.password, for a write hook


@dataclass(frozen=True, slots=True)
class Link:
    rel: RelationshipInfo
    filters: BoolOp
    first: bool
    also_do: RowValues | None
    create_if_none: RowValues | None
    at: str


@dataclass(frozen=True, slots=True)
class Unlink:
    rel: RelationshipInfo
    filters: BoolOp | None  # None: unlink all
    first: bool
    at: str


@dataclass(frozen=True, slots=True)
class Create:
    rel: RelationshipInfo
    rows: list[RowValues]
    append: bool
    at: str


@dataclass(frozen=True, slots=True)
class Through:
    rel: RelationshipInfo
    values: RowValues
    at: str


Action = Link | Unlink | Create | Through


@dataclass(frozen=True, slots=True)
class Context:
    now: datetime
    limits: Limits
    files: Files


def validate_rows(
    model: ModelInfo, raw: Any, at: str, ctx: Context, *, creating: bool, depth: int = 1
) -> list[RowValues]:
    """A dict (one row) or a list of dicts (many rows of `model`)."""
    if isinstance(raw, dict):
        return [validate_values(model, raw, at, ctx, creating=creating, depth=depth)]
    if not isinstance(raw, list) or not raw:
        raise MalformedRequest("'object_values' must be an object or a non-empty list of objects.", at=at)
    if len(raw) > ctx.limits.rows_per_list:
        raise LimitExceeded(
            f"At most {ctx.limits.rows_per_list} rows per list; this one has {len(raw)}.",
            at=at,
            detail=f"limit=rows_per_list max={ctx.limits.rows_per_list}",
        )
    return [
        validate_values(model, row, f"{at}/{i}", ctx, creating=creating, depth=depth)
        for i, row in enumerate(raw)
    ]


def validate_values(
    model: ModelInfo, raw: Any, at: str, ctx: Context, *, creating: bool, depth: int = 1
) -> RowValues:
    if depth > ctx.limits.depth:
        raise LimitExceeded(
            f"Relationship actions nest at most {ctx.limits.depth} levels deep.",
            at=at,
            detail=f"limit=depth max={ctx.limits.depth}",
        )
    if not isinstance(raw, dict):
        raise MalformedRequest(f"Values for {model.name} must be an object.", at=at)
    row = RowValues(model, {}, [], at)
    for key, value in raw.items():
        key_at = at + pointer(key)
        col = model.columns.get(key)
        if col is not None:
            if col.server_managed or col.caller_stamped:
                continue  # the server owns these: ignored as sent (docs/contract.md §4.4)
            row.columns[key] = _column_value(col, value, key_at, ctx)
        elif key in model.relationships:
            row.actions.append(_action(model.relationships[key], value, key_at, ctx, depth))
        elif key in model.write_only:
            if not isinstance(value, str) or not value:
                raise WrongValueType(f"'{key}' must be a non-empty string.", at=key_at, detail=f"field={key}")
            row.write_only[key] = value
        else:
            raise UnknownField(
                f"'{key}' is not a field or relationship of {model.name}.", at=key_at, detail=f"field={key}"
            )
    if creating:
        _require(row)
    return row


def _column_value(col: ColumnInfo, value: Any, at: str, ctx: Context) -> Any:
    converted = ctx.files.canonical(col, coerce(col, value, at, ctx.now), at)
    blank = converted is None or (col.kind == "str" and isinstance(converted, str) and not converted.strip())
    if not col.nullable and blank:
        raise WrongValueType(f"'{col.key}' cannot be empty.", at=at, detail=f"field={col.key}")
    return converted


def _require(row: RowValues) -> None:
    covered = {
        local.key
        for action in row.actions
        if not action.rel.uselist and action.rel.secondary is None
        for local, _ in action.rel.pairs
    }
    missing = [
        c.key
        for c in row.model.columns.values()
        if not c.nullable
        and not c.has_default
        and not c.server_managed
        and not c.caller_stamped
        and c.key not in row.columns
        and c.key not in covered
    ]
    if missing:
        raise MalformedRequest(
            f"{row.model.name} needs {', '.join(repr(m) for m in missing)}.",
            at=row.at or "/",
            detail=f"missing={','.join(missing)}",
        )


def _action(rel: RelationshipInfo, raw: Any, at: str, ctx: Context, depth: int) -> Action:
    kind = raw.get("action") if isinstance(raw, dict) else None
    if kind is None:
        raise MalformedRequest(
            f'\'{rel.key}\' is a relationship: send {{"action": "link" | "unlink" | "create" | '
            '"create_through_rel", ...}.',
            at=at,
            detail=f"field={rel.key}",
        )
    entry = _ACTIONS.get(kind) if isinstance(kind, str) else None
    if entry is None:
        shown = repr(kind) if isinstance(kind, str) else type(kind).__name__
        raise MalformedRequest(
            f"Unknown action {printable(shown)[:80]} on '{rel.key}' (use link, unlink, create or "
            "create_through_rel).",
            at=at + "/action",
            detail=f"field={rel.key}",
        )
    _only(raw, entry.keys, at)
    return entry.parse(rel, raw, at, ctx, depth)


def _link(rel: RelationshipInfo, raw: dict[str, Any], at: str, ctx: Context, depth: int) -> Action:
    target = rel.target
    values_at = at + "/values"
    spec = _object(raw.get("values"), values_at, f"'values' of link on '{rel.key}'")
    if set(spec) != {target.name}:
        raise MalformedRequest(
            f"'values' of link on '{rel.key}' takes one key, the related model '{target.name}'.",
            at=values_at,
            detail=f"field={rel.key}",
        )
    spec_at = values_at + pointer(target.name)
    spec = _object(spec[target.name], spec_at, "The link")
    _only(spec, _LINK_KEYS, spec_at)
    link_type = _choice(spec, "link_type", ("first_link", "all_link"), spec_at, required=True)
    filters = _filters(spec.get("query_filters"), target, spec_at + "/query_filters", ctx)
    also = spec.get("also_do")
    also_do = (
        validate_values(target, also, spec_at + "/also_do", ctx, creating=False, depth=depth + 1)
        if also
        else None
    )
    return Link(
        rel, filters, link_type == "first_link", also_do, _if_none(spec, target, spec_at, ctx, depth), at
    )


_LINK_KEYS = {"query_filters", "link_type", "also_do", "action_if_none", "values_for_none_action"}


def _if_none(spec: dict[str, Any], target: ModelInfo, at: str, ctx: Context, depth: int) -> RowValues | None:
    """The row a link creates when nothing matches ("action_if_none": "create_entry"), if asked."""
    if _choice(spec, "action_if_none", ("create_entry",), at) is not None:
        values = spec.get("values_for_none_action") or {}
        where = at + "/values_for_none_action"
        return validate_values(target, values, where, ctx, creating=True, depth=depth + 1)
    if "values_for_none_action" in spec:
        raise MalformedRequest(
            '\'values_for_none_action\' needs "action_if_none": "create_entry".',
            at=at + "/values_for_none_action",
        )
    return None


def _unlink(rel: RelationshipInfo, raw: dict[str, Any], at: str, ctx: Context, depth: int) -> Action:
    values_at = at + "/values"
    spec = _object(raw.get("values"), values_at, f"'values' of unlink on '{rel.key}'")
    _only(spec, {"unlink_type", "query_filters", "query_matches"}, values_at)
    unlink_type = _choice(spec, "unlink_type", ("unlink_matches", "unlink_all"), values_at, required=True)
    if unlink_type == "unlink_all":
        return Unlink(rel, None, False, at)
    matches = _choice(spec, "query_matches", ("first_match", "all_matches"), values_at) or "all_matches"
    filters = _filters(spec.get("query_filters"), rel.target, values_at + "/query_filters", ctx)
    return Unlink(rel, filters, matches == "first_match", at)


def _create(rel: RelationshipInfo, raw: dict[str, Any], at: str, ctx: Context, depth: int) -> Action:
    target = rel.target
    values_at = at + "/values"
    if raw.get("sub_model_name", target.name) != target.name:
        shown = raw["sub_model_name"]
        shown = printable(repr(shown))[:80] if isinstance(shown, str) else type(shown).__name__
        raise MalformedRequest(
            f"'{rel.key}' relates to {target.name}, not {shown}.",
            at=at + "/sub_model_name",
            detail=f"field={rel.key}",
        )
    append = raw.get("append", True)
    if not isinstance(append, bool):
        raise WrongValueType("'append' is true or false.", at=at + "/append", detail="field=append")
    rows = validate_rows(target, raw.get("values"), values_at, ctx, creating=True, depth=depth + 1)
    if not rel.uselist and len(rows) != 1:
        raise MalformedRequest(f"'{rel.key}' holds one {target.name}: create one.", at=values_at)
    return Create(rel, rows, append, at)


def _through(rel: RelationshipInfo, raw: dict[str, Any], at: str, ctx: Context, depth: int) -> Action:
    values = validate_values(
        rel.target, raw.get("values"), at + "/values", ctx, creating=False, depth=depth + 1
    )
    return Through(rel, values, at)


ActionParser = Callable[[RelationshipInfo, dict[str, Any], str, Context, int], Action]


@dataclass(frozen=True, slots=True)
class ActionGrammar:
    keys: frozenset[str]  # the keys the action takes
    parse: ActionParser


_ACTIONS: dict[str, ActionGrammar] = {
    "link": ActionGrammar(frozenset({"action", "values"}), _link),
    "unlink": ActionGrammar(frozenset({"action", "values"}), _unlink),
    "create": ActionGrammar(frozenset({"action", "values", "sub_model_name", "append"}), _create),
    "create_through_rel": ActionGrammar(frozenset({"action", "values"}), _through),
}
"""The relationship actions' grammar, by the name of the action."""


def _object(value: Any, at: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedRequest(f"{what} must be an object.", at=at)
    return value


def _only(spec: dict[str, Any], keys: frozenset[str] | set[str], at: str) -> None:
    unknown = sorted(set(spec) - keys)
    if unknown:
        raise MalformedRequest(
            f"Unknown key '{unknown[0]}' here.", at=at + pointer(unknown[0]), detail=f"field={unknown[0]}"
        )


def _choice(
    spec: dict[str, Any], key: str, options: tuple[str, ...], at: str, *, required: bool = False
) -> str | None:
    value = spec.get(key)
    if value is None and not required:
        return None
    if value not in options:
        raise MalformedRequest(
            f"'{key}' must be one of {', '.join(options)}.", at=at + pointer(key), detail=f"field={key}"
        )
    return value


def _filters(raw: Any, model: ModelInfo, at: str, ctx: Context) -> BoolOp:
    if not raw:
        raise MalformedRequest(
            "Filters are required here, so that not every row is touched.",
            at=at,
            detail="field=query_filters",
        )
    return validate_filters(parse_filters(raw, at), model, ctx.now)
