"""Request syntax: pydantic at the boundary, then plain trees of names and conditions.

Nothing here knows the models; dataapi.query.validate resolves every name against the registry.
Every node keeps the JSON pointer of the request part it came from, for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from dataapi.errors import BadOperator, LimitExceeded, MalformedRequest, pointer
from dataapi.query import limits
from dataapi.query.operators import COMBINERS, OPERATORS
from dataapi.settings import Settings, get_settings


class GetItemsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str
    requested_data: list[str | dict[str, Any]]
    query_filters: dict[str, Any] = Field(default_factory=dict)
    # Strict: JSON `true` is not the number 1.
    per_page: StrictInt | None = None
    cursor: StrictInt | StrictStr | None = None
    order_by: list[StrictStr] | None = None
    count: StrictBool = False


# ---- requested_data -------------------------------------------------------------------------


@dataclass(slots=True)
class FieldNode:
    """A requested name; `children` is None for a column, a dict for a relationship."""

    at: str
    children: dict[str, FieldNode] | None = None


def parse_requested(raw: Any, at: str) -> dict[str, FieldNode]:
    """`["id", "notes.subject.subject", {"dealer": ["id"]}]` -> a merged tree of names."""
    if not isinstance(raw, list):
        raise MalformedRequest("'requested_data' must be a list.", at=at, detail="field=requested_data")
    tree: dict[str, FieldNode] = {}
    _merge_list(tree, raw, at)
    return tree


def _merge_list(tree: dict[str, FieldNode], items: list[Any], at: str) -> None:
    for i, item in enumerate(items):
        item_at = f"{at}/{i}"
        if isinstance(item, str):
            _merge_path(tree, item, item_at)
        elif isinstance(item, dict):
            for rel, sub in item.items():
                sub_at = item_at + pointer(rel)
                if not isinstance(sub, list):
                    raise MalformedRequest(
                        f"Requested fields of '{rel}' must be a list.", at=sub_at, detail=f"field={rel}"
                    )
                node = _branch(tree, rel, sub_at)
                assert node.children is not None
                _merge_list(node.children, sub, sub_at)
        else:
            raise MalformedRequest(
                "Each requested field is a name or {relationship: [fields]}.", at=item_at, detail="field=?"
            )


def _merge_path(tree: dict[str, FieldNode], path: str, at: str) -> None:
    limits.check_path(path, at)
    parts = path.split(".")
    if any(not p for p in parts):
        raise MalformedRequest(f"'{path}' is not a valid field path.", at=at, detail=f"field={path}")
    for name in parts[:-1]:
        node = _branch(tree, name, at)
        assert node.children is not None
        tree = node.children
    last = parts[-1]
    existing = tree.get(last)
    if existing is not None and existing.children is not None:
        raise MalformedRequest(
            f"'{last}' is requested both as a field and as a relationship.", at=at, detail=f"field={last}"
        )
    tree.setdefault(last, FieldNode(at))


def _branch(tree: dict[str, FieldNode], name: str, at: str) -> FieldNode:
    node = tree.get(name)
    if node is None:
        node = tree[name] = FieldNode(at, {})
    elif node.children is None:
        raise MalformedRequest(
            f"'{name}' is requested both as a field and as a relationship.", at=at, detail=f"field={name}"
        )
    return node


# ---- query_filters --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cond:
    key: str
    op: str
    value: Any
    at: str
    value_at: str
    has_value: bool = True


@dataclass(frozen=True, slots=True)
class Group:
    kind: Literal["and", "or", "not"]
    children: tuple[Cond | Group, ...]
    at: str


Node = Cond | Group


def parse_filters(raw: Any, at: str) -> Group:
    """A filters map -> AND(plain conditions, OR(`or-` conditions)); `$or/$and/$not` nest maps.
    The tree is checked against the filter limits before anything else looks at it."""
    group = _filter_map(raw, at)
    check_filters(group)
    return group


def check_filters(group: Group, settings: Settings | None = None) -> None:
    """Conditions, nesting and values of one filter tree, before it is validated or compiled."""
    s = settings or get_settings()
    conditions = values = 0
    stack: list[tuple[Node, int]] = [(group, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Cond):
            conditions += 1
            if conditions > s.max_filter_conditions:
                raise LimitExceeded.of(
                    "Too many filter conditions", s.max_filter_conditions, node.at, "conditions"
                )
            values += _values(node.value, node.value_at, s)
            if values > s.max_filter_values:
                raise LimitExceeded.of(
                    "Too many filter values", s.max_filter_values, node.value_at, "filter_values"
                )
            continue
        if depth > s.max_filter_depth:
            raise LimitExceeded.of(
                "Filter groups nest too deeply", s.max_filter_depth, node.at, "filter_depth"
            )
        stack.extend((child, depth + 1) for child in node.children)


def _values(value: Any, at: str, s: Settings) -> int:
    if isinstance(value, list):
        if len(value) > s.max_list_values:
            raise LimitExceeded.of(f"The list has {len(value)} values", s.max_list_values, at, "list_values")
        return len(value)
    if isinstance(value, dict):
        return len(value)
    return 1


def _filter_map(raw: Any, at: str) -> Group:
    if not isinstance(raw, dict):
        raise MalformedRequest("Filters must be a JSON object.", at=at, detail="field=query_filters")
    plain: list[Node] = []
    ors: list[Node] = []
    for key, cond in raw.items():
        key_at = at + pointer(key)
        if not isinstance(key, str) or not key:
            raise MalformedRequest("Filter keys must be non-empty strings.", at=key_at, detail="field=?")
        if key in ("$or", "$and"):
            if not isinstance(cond, list) or not cond:
                raise MalformedRequest(
                    f"'{key}' takes a non-empty list of filter maps.", at=key_at, detail=f"field={key}"
                )
            kind: Literal["or", "and"] = "or" if key == "$or" else "and"
            plain.append(
                Group(kind, tuple(_filter_map(m, f"{key_at}/{i}") for i, m in enumerate(cond)), key_at)
            )
        elif key == "$not":
            plain.append(Group("not", (_filter_map(cond, key_at),), key_at))
        elif key.startswith("$"):
            raise MalformedRequest(
                f"Unknown filter group '{key}' (use $or, $and or $not).", at=key_at, detail=f"field={key}"
            )
        elif key.startswith("or-"):
            ors.append(_condition(key[3:], cond, key_at))
        else:
            plain.append(_condition(key, cond, key_at))
    if ors:
        plain.append(Group("or", tuple(ors), at))
    return Group("and", tuple(plain), at)


def _condition(key: str, raw: Any, at: str) -> Node:
    if not isinstance(raw, dict):
        return Cond(key, "==", raw, at, at)
    unknown = set(raw) - {"operation", "value"}
    if "operation" not in raw or unknown:
        raise MalformedRequest(
            f'The condition on \'{key}\' must be a value or {{"operation": ..., "value": ...}}.',
            at=at,
            detail=f"field={key}",
        )
    op = raw["operation"]
    op_at = at + "/operation"
    if not isinstance(op, str) or (op.lower() not in OPERATORS and op.lower() not in COMBINERS):
        names = sorted([*OPERATORS, *COMBINERS])
        raise BadOperator(
            f"Unknown operation {op!r} on '{key}'. Use one of: {', '.join(names)}.",
            at=op_at,
            detail=f"field={key} operation={op}",
        )
    op = op.lower()
    value = raw.get("value")
    value_at = at + "/value"
    if op in ("or", "and"):
        if not isinstance(value, list) or not value:
            raise MalformedRequest(
                f"'{op}' on '{key}' takes a non-empty list of conditions.", at=value_at, detail=f"field={key}"
            )
        return Group(op, tuple(_condition(key, v, f"{value_at}/{i}") for i, v in enumerate(value)), at)  # type: ignore[arg-type]
    if op == "not":
        if "value" not in raw:
            raise MalformedRequest(
                f"'not' on '{key}' takes one condition.", at=value_at, detail=f"field={key}"
            )
        return Group("not", (_condition(key, value, value_at),), at)
    return Cond(key, op, value, at, value_at, "value" in raw)
