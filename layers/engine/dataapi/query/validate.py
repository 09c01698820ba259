"""Resolve parsed requests against the registry: every name found, every value converted.

The output holds mapper objects and typed Python values only; compiling it cannot fail on user
input, so an error always points at the request part that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from dataapi.errors import BadOperator, LimitExceeded, MalformedRequest, UnknownField, WrongValueType
from dataapi.query import limits
from dataapi.query.coerce import coerce
from dataapi.query.operators import OPERATORS
from dataapi.query.parse import Cond, FieldNode, Group
from dataapi.registry import ColumnInfo, ModelInfo, RelationshipInfo
from dataapi.settings import Settings, get_settings

# ---- paths ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Path:
    hops: tuple[RelationshipInfo, ...]
    column: ColumnInfo | None  # None: the path ends at a relationship
    json_path: tuple[str, ...]
    model: ModelInfo  # the model the column (or last relationship) belongs to / points at


def resolve_path(model: ModelInfo, key: str, at: str) -> Path:
    limits.check_path(key, at)
    if "\x00" in key:  # no name holds one, and PostgreSQL text cannot
        raise UnknownField(f"{key!r} is not a valid path.", at=at, detail="field=?")
    parts = key.split(".")
    hops: list[RelationshipInfo] = []
    current = model
    for i, name in enumerate(parts):
        rel = current.relationships.get(name)
        if rel is not None:
            hops.append(rel)
            current = rel.target
            continue
        col = current.columns.get(name)
        if col is None:
            raise UnknownField(
                f"'{name}' is not a field or relationship of {current.name}.", at=at, detail=f"field={key}"
            )
        rest = tuple(parts[i + 1 :])
        if rest and col.kind != "json":
            raise UnknownField(
                f"'{name}' of {current.name} is not a JSON field, so '{'.'.join(rest)}' cannot follow it.",
                at=at,
                detail=f"field={key}",
            )
        if any(not p for p in rest):
            raise UnknownField(f"'{key}' is not a valid path.", at=at, detail=f"field={key}")
        return Path(tuple(hops), col, rest, current)
    return Path(tuple(hops), None, (), current)


@dataclass(frozen=True, slots=True)
class OrderPath:
    """One `order_by` entry, resolved once: authorization and compilation both use it."""

    spec: str  # as sent: "field" or "-field"
    path: Path
    desc: bool
    at: str


def validate_order(model: ModelInfo, order_by: list[str] | None) -> tuple[OrderPath, ...]:
    """Columns of the model or of to-one relationships; JSON columns and to-many hops cannot order."""
    resolved = []
    for i, spec in enumerate(order_by or ()):
        at = f"/order_by/{i}"
        desc = spec.startswith("-")
        name = spec[1:] if desc else spec
        path = resolve_path(model, name, at)
        col = path.column
        if col is None or path.json_path or col.kind == "json" or any(h.uselist for h in path.hops):
            raise UnknownField(
                f"Cannot order by '{name}': use a column of {model.name} or of a to-one relationship.",
                at=at,
                detail=f"field={name}",
            )
        resolved.append(OrderPath(spec, path, desc, at))
    return tuple(resolved)


# ---- requested_data -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnField:
    """A requested column, under the name it was asked by."""

    name: str
    column: ColumnInfo
    at: str


@dataclass(frozen=True, slots=True)
class RelationshipField:
    """A requested relationship and the fields requested of the rows it leads to."""

    name: str
    relationship: RelationshipInfo
    fields: Fields
    at: str


FieldEntry = ColumnField | RelationshipField


@dataclass(frozen=True, slots=True)
class Fields:
    """Validated requested_data for one model, in the order asked."""

    model: ModelInfo
    entries: tuple[FieldEntry, ...]

    @property
    def relationships(self) -> tuple[RelationshipField, ...]:
        return tuple(e for e in self.entries if isinstance(e, RelationshipField))


def validate_fields(model: ModelInfo, tree: dict[str, FieldNode]) -> Fields:
    entries: list[FieldEntry] = []
    for name, node in tree.items():
        if node.children is None:
            col = model.columns.get(name)
            if col is None:
                if name in model.relationships:
                    raise UnknownField(
                        f"'{name}' is a relationship of {model.name}: request its fields, "
                        f'e.g. {{"{name}": ["id"]}}.',
                        at=node.at,
                        detail=f"field={name}",
                    )
                raise UnknownField(
                    f"'{name}' is not a field of {model.name}.", at=node.at, detail=f"field={name}"
                )
            entries.append(ColumnField(name, col, node.at))
        else:
            rel = model.relationships.get(name)
            if rel is None:
                raise UnknownField(
                    f"'{name}' is not a relationship of {model.name}.", at=node.at, detail=f"field={name}"
                )
            entries.append(RelationshipField(name, rel, validate_fields(rel.target, node.children), node.at))
    return Fields(model, tuple(entries))


def check_fields(fields: Fields, settings: Settings | None = None) -> None:
    """Depth (MAX_DEPTH), nested to-many levels and relationship count of requested data: each
    nested to-many multiplies the rows PostgreSQL builds for a page."""
    s = settings or get_settings()
    relationships = 0
    stack: list[tuple[Fields, int, int]] = [(fields, 0, 0)]
    while stack:
        node, depth, to_many = stack.pop()
        for entry in node.relationships:
            relationships += 1
            nested_many = to_many + (1 if entry.relationship.uselist else 0)
            at = entry.at
            if relationships > s.max_requested_relationships:
                limit = s.max_requested_relationships
                raise LimitExceeded.of("Too many relationships requested", limit, at, "relationships")
            if depth + 1 > s.max_depth:
                raise LimitExceeded.of("Requested data nests too deeply", s.max_depth, at, "depth")
            if nested_many > s.max_to_many_depth:
                limit = s.max_to_many_depth
                raise LimitExceeded.of(
                    "Too many nested to-many relationships requested", limit, at, "to_many"
                )
            stack.append((entry.fields, depth + 1, nested_many))


# ---- query_filters --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pred:
    path: Path
    op: str
    value: Any
    at: str


@dataclass(frozen=True, slots=True)
class BoolOp:
    kind: Literal["and", "or", "not"]
    children: tuple[Pred | BoolOp, ...]


Filter = Pred | BoolOp


def validate_filters(group: Group, model: ModelInfo, now: datetime) -> BoolOp:
    return BoolOp(group.kind, tuple(_node(child, model, now) for child in group.children))


def _node(node: Cond | Group, model: ModelInfo, now: datetime) -> Filter:
    if isinstance(node, Group):
        return validate_filters(node, model, now)
    return validate_condition(node, model, now)


def validate_condition(cond: Cond, model: ModelInfo, now: datetime) -> Pred:
    path = resolve_path(model, cond.key, cond.at)
    op, value = cond.op, cond.value
    if op == "==" and value is None:
        op = "is_null"
    elif op == "!=" and value is None:
        op = "not_null"
    elif op == "==" and isinstance(value, list) and (path.column is None or path.column.kind != "json"):
        op = "in"
    value_at = cond.value_at
    if not cond.has_value and op not in ("is_null", "not_null"):
        raise MalformedRequest(
            f"The condition on '{cond.key}' needs a 'value'.", at=cond.at, detail=f"field={cond.key}"
        )

    spec = OPERATORS[op]
    if spec.shape == "none":
        if value not in (None, True, False):
            raise WrongValueType(
                f"'{op}' on '{cond.key}' takes no value (or true/false).",
                at=value_at,
                detail=f"field={cond.key}",
            )
        if value is False:
            op = "not_null" if op == "is_null" else "is_null"
        return Pred(path, op, None, cond.at)

    col = path.column
    if col is None:
        raise BadOperator(
            f"'{cond.key}' is a relationship: filter on one of its fields (e.g. '{cond.key}.id'), "
            "or test it with is_null / not_null.",
            at=cond.at,
            detail=f"field={cond.key} operation={op}",
        )
    kind = col.kind
    if value is None and spec.shape in ("one", "text"):
        raise WrongValueType(
            f"'{op}' on '{cond.key}' needs a value, not null (use is_null / not_null).",
            at=value_at,
            detail=f"field={cond.key} operation={op}",
        )
    if kind not in spec.kinds:
        raise BadOperator(
            f"Operation '{op}' does not apply to '{cond.key}' ({kind}).",
            at=cond.at,
            detail=f"field={cond.key} operation={op}",
        )
    return Pred(path, op, _convert(spec.shape, col, value, cond.key, value_at, now), cond.at)


def _convert(shape: str, col: ColumnInfo, value: Any, key: str, at: str, now: datetime) -> Any:
    def one(v: Any, where: str) -> Any:
        return coerce(col, v, where, now)

    if shape == "one":
        if col.kind != "json" and isinstance(value, dict | list):
            raise WrongValueType(f"'{key}' expects a single value.", at=at, detail=f"field={key}")
        return one(value, at)
    if shape == "text":
        if not isinstance(value, str) or "\x00" in value:
            raise WrongValueType(f"'{key}' expects a string pattern.", at=at, detail=f"field={key}")
        return value
    if shape == "list":
        items = value if isinstance(value, list) else [value]
        return [one(v, f"{at}/{i}" if isinstance(value, list) else at) for i, v in enumerate(items)]
    if shape == "keys":
        keys = [value] if isinstance(value, str) else value
        if (
            not isinstance(keys, list)
            or not keys
            or not all(isinstance(k, str) and "\x00" not in k for k in keys)
        ):
            raise WrongValueType(f"'{key}' expects a list of key names.", at=at, detail=f"field={key}")
        return keys
    # range
    if not isinstance(value, dict) or not ({"start", "end"} & set(value)) or set(value) - {"start", "end"}:
        raise WrongValueType(
            f"'range' on '{key}' takes {{\"start\": ..., \"end\": ...}}.", at=at, detail=f"field={key}"
        )
    bounds = (one(value.get("start"), at + "/start"), one(value.get("end"), at + "/end"))
    if bounds == (None, None):
        raise WrongValueType(f"'range' on '{key}' needs a start or an end.", at=at, detail=f"field={key}")
    return bounds
