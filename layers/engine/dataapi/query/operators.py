"""The operator table: one entry per filter operation, shared by reads and writes.

Each entry says which value shape it takes (checked and converted before SQL), which field kinds
it applies to and how it builds its clause. Every clause binds the value unchanged, so a statement
built once can take other values (dataapi.query.shapes). Adding an operator means adding one row
here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ARRAY, ColumnElement, Text, and_, cast, false, func, literal, literal_column, or_, true
from sqlalchemy.dialects.postgresql import JSONB, array

Shape = Literal["one", "list", "range", "none", "text", "keys"]

COMPARABLE = frozenset(("str", "int", "float", "decimal", "datetime", "date", "time", "uuid", "json"))
ANY_KIND = COMPARABLE | {"bool", "other"}
_JSON_NULL: ColumnElement[Any] = literal_column("'null'::jsonb")


@dataclass(frozen=True, slots=True)
class Leaf:
    """What an operator compares: a column, or the jsonb value at a path inside a JSON column."""

    expr: ColumnElement[Any]
    text: ColumnElement[Any]  # the same value as text (LIKE on JSON paths)
    kind: str  # the column kind; "json" for JSON columns and paths into them

    def bind(self, value: Any) -> Any:
        """A value to compare with: JSON values are bound as jsonb, so 10 > 6 compares numbers."""
        return literal(value, JSONB) if self.kind == "json" else value


@dataclass(frozen=True, slots=True)
class Operator:
    shape: Shape
    kinds: frozenset[str]
    build: Callable[[Leaf, Any], ColumnElement[bool]]


def _is_null(leaf: Leaf, _: Any) -> ColumnElement[bool]:
    if leaf.kind == "json":  # a missing key, SQL NULL, or the JSON literal null
        return or_(leaf.expr.is_(None), leaf.expr == _JSON_NULL)
    return leaf.expr.is_(None)


def _in(leaf: Leaf, values: list[Any]) -> ColumnElement[bool]:
    present = [leaf.bind(v) for v in values if v is not None]
    parts: list[ColumnElement[bool]] = [leaf.expr.in_(present)] if present else []
    if len(present) < len(values):  # SQL IN never matches NULL: a null in the list means IS NULL
        parts.append(_is_null(leaf, None))
    return or_(*parts) if parts else false()


def _not_in(leaf: Leaf, values: list[Any]) -> ColumnElement[bool]:
    present = [leaf.bind(v) for v in values if v is not None]
    if len(present) < len(values):  # null is excluded too
        has_value = ~_is_null(leaf, None)
        return and_(has_value, leaf.expr.not_in(present)) if present else has_value
    # NULL is "not in" any list: a user excluding values does not expect rows without one to vanish.
    return or_(leaf.expr.not_in(present), leaf.expr.is_(None)) if present else true()


def _range(leaf: Leaf, bounds: tuple[Any, Any]) -> ColumnElement[bool]:
    start, end = bounds
    parts = [leaf.expr >= leaf.bind(start)] if start is not None else []
    if end is not None:
        parts.append(leaf.expr <= leaf.bind(end))
    return and_(*parts)


def _contains(leaf: Leaf, value: Any) -> ColumnElement[bool]:
    if leaf.kind == "json":
        return leaf.expr.contains(leaf.bind(value))  # jsonb @>
    return leaf.expr.contains(_like_literal(value), escape="/")  # a substring, wildcards literal


def _like_literal(value: Any) -> ColumnElement[Any]:
    """The value with LIKE's escape character and wildcards escaped by PostgreSQL (ESCAPE '/'), so
    the value is bound as sent."""
    escaped: ColumnElement[Any] = literal(value, Text)
    for char in ("/", "%", "_"):
        escaped = func.replace(escaped, literal_column(f"'{char}'"), literal_column(f"'/{char}'"))
    return escaped


def _text(value: Any) -> ColumnElement[Any]:
    """A key name bound as text whatever the value (a statement built once may bind others)."""
    return literal(value, Text)


def _text_array(values: list[str]) -> ColumnElement[Any]:
    # pg8000 would bind a plain list as jsonb for ?| / ?&; cast it to text[] explicitly.
    return cast(array([_text(v) for v in values], type_=Text), ARRAY(Text))


OPERATORS: dict[str, Operator] = {
    "==": Operator("one", ANY_KIND, lambda leaf, v: leaf.expr == leaf.bind(v)),
    "!=": Operator("one", ANY_KIND, lambda leaf, v: leaf.expr.is_distinct_from(leaf.bind(v))),
    ">": Operator("one", COMPARABLE, lambda leaf, v: leaf.expr > leaf.bind(v)),
    ">=": Operator("one", COMPARABLE, lambda leaf, v: leaf.expr >= leaf.bind(v)),
    "<": Operator("one", COMPARABLE, lambda leaf, v: leaf.expr < leaf.bind(v)),
    "<=": Operator("one", COMPARABLE, lambda leaf, v: leaf.expr <= leaf.bind(v)),
    "like": Operator("text", frozenset(("str", "json")), lambda leaf, v: leaf.text.like(v)),
    "ilike": Operator("text", frozenset(("str", "json")), lambda leaf, v: leaf.text.ilike(v)),
    "in": Operator("list", ANY_KIND, _in),
    "notin": Operator("list", ANY_KIND, _not_in),
    "range": Operator("range", COMPARABLE, _range),
    "contains": Operator("one", frozenset(("str", "json")), _contains),
    "contained_by": Operator(
        "one", frozenset(("json",)), lambda leaf, v: leaf.expr.contained_by(leaf.bind(v))
    ),
    "has_key": Operator("text", frozenset(("json",)), lambda leaf, v: leaf.expr.has_key(_text(v))),
    "has_any": Operator("keys", frozenset(("json",)), lambda leaf, v: leaf.expr.has_any(_text_array(v))),
    "has_all": Operator("keys", frozenset(("json",)), lambda leaf, v: leaf.expr.has_all(_text_array(v))),
    "is_null": Operator("none", ANY_KIND, _is_null),
    "not_null": Operator("none", ANY_KIND, lambda leaf, v: ~_is_null(leaf, v)),
}
"""`or`, `and` and `not` are not here: they combine conditions and are parsed into groups."""

COMBINERS = frozenset(("or", "and", "not"))
"""Operations that combine conditions on one key (parsed into groups, not compiled as a leaf)."""
