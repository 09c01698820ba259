"""Request shape limits, checked before any SQL is built (settings name each one).

A request that would make the database (or the driver) do unbounded work is refused with a 400
naming the request part: body nesting, text that is not valid UTF-8, filter size and nesting,
list sizes, dotted path length, `order_by` length and the depth and fan-out of `requested_data`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataapi.errors import LimitExceeded, MalformedRequest, pointer
from dataapi.settings import Settings, get_settings

if TYPE_CHECKING:
    from dataapi.query.parse import Group
    from dataapi.query.validate import Fields


def printable(text: str) -> str:
    """`text` with lone surrogates spelled out (\\ud800), safe to encode, log and echo."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_much(what: str, limit: int, at: str, name: str) -> LimitExceeded:
    return LimitExceeded(f"{what} (at most {limit}).", at=at or "/", detail=f"limit={name} max={limit}")


# ---- the body ---------------------------------------------------------------------------------


def check_body(body: Any, settings: Settings | None = None) -> None:
    """Nesting depth and valid text of a parsed JSON body, walked without recursion."""
    limit = (settings or get_settings()).max_body_depth
    stack: list[tuple[Any, tuple[Any, ...]]] = [(body, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > limit:
            raise _too_much("The request nests too deeply", limit, pointer(*path[:limit]), "body_depth")
        if isinstance(node, str):
            _check_text(node, path)
        elif isinstance(node, dict):
            for key, value in node.items():
                _check_text(key, (*path, key))
                stack.append((value, (*path, key)))
        elif isinstance(node, list):
            stack.extend((value, (*path, i)) for i, value in enumerate(node))


def _check_text(text: str, path: tuple[Any, ...]) -> None:
    if not _valid_text(text):
        at = pointer(*(printable(p) if isinstance(p, str) else p for p in path)) or "/"
        field = next((printable(p) for p in reversed(path) if isinstance(p, str)), "request")
        raise MalformedRequest(
            f"'{field}' holds text that is not valid Unicode (a lone surrogate).",
            at=at,
            detail=f"field={field} InvalidText",
        )


# ---- filters ----------------------------------------------------------------------------------


def check_filters(group: Group, settings: Settings | None = None) -> None:
    """Conditions, nesting and values of one filter tree, before it is validated or compiled."""
    from dataapi.query.parse import Cond

    s = settings or get_settings()
    conditions = values = 0
    stack: list[tuple[Any, int]] = [(group, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Cond):
            conditions += 1
            if conditions > s.max_filter_conditions:
                raise _too_much("Too many filter conditions", s.max_filter_conditions, node.at, "conditions")
            values += _values(node.value, node.value_at, s)
            if values > s.max_filter_values:
                raise _too_much("Too many filter values", s.max_filter_values, node.value_at, "filter_values")
            continue
        if depth > s.max_filter_depth:
            raise _too_much("Filter groups nest too deeply", s.max_filter_depth, node.at, "filter_depth")
        stack.extend((child, depth + 1) for child in node.children)


def _values(value: Any, at: str, s: Settings) -> int:
    if isinstance(value, list):
        if len(value) > s.max_list_values:
            raise _too_much(f"The list has {len(value)} values", s.max_list_values, at, "list_values")
        return len(value)
    if isinstance(value, dict):
        return len(value)
    return 1


def check_path(key: str, at: str, settings: Settings | None = None) -> None:
    limit = (settings or get_settings()).max_path_parts
    if key.count(".") >= limit:
        raise _too_much(f"The path '{key[:60]}…' has too many parts", limit, at, "path_parts")


def check_order_by(order_by: list[str] | None, settings: Settings | None = None) -> None:
    limit = (settings or get_settings()).max_order_by
    if order_by and len(order_by) > limit:
        raise _too_much(f"'order_by' has {len(order_by)} entries", limit, "/order_by", "order_by")


# ---- requested_data ---------------------------------------------------------------------------


def check_fields(fields: Fields, settings: Settings | None = None) -> None:
    """Depth (MAX_DEPTH), nested to-many levels and relationship count of requested data: each
    nested to-many multiplies the rows PostgreSQL builds for a page."""
    s = settings or get_settings()
    relationships = 0
    stack: list[tuple[Fields, int, int]] = [(fields, 0, 0)]
    while stack:
        node, depth, to_many = stack.pop()
        for _name, entry, at in node.entries:
            if not isinstance(entry, tuple):
                continue
            rel, sub = entry
            relationships += 1
            nested_many = to_many + (1 if rel.uselist else 0)
            if relationships > s.max_requested_relationships:
                limit = s.max_requested_relationships
                raise _too_much("Too many relationships requested", limit, at, "relationships")
            if depth + 1 > s.max_depth:
                raise _too_much("Requested data nests too deeply", s.max_depth, at, "depth")
            if nested_many > s.max_to_many_depth:
                limit = s.max_to_many_depth
                raise _too_much("Too many nested to-many relationships requested", limit, at, "to_many")
            stack.append((sub, depth + 1, nested_many))
