"""Link lookups of many actions whose filters have one shape, in one part of the lookup statement.

A batch of 100 notes that each link their subject by name and their items by article number
asks 200 lookups that differ only in their values. Built one subquery each (dataapi.mutate.
linking.Linker), they cost more Python in SQLAlchemy than the database spends answering them. A
shape is a filter without its values: the same conditions on the same columns of the target
(`==`, `!=`, comparisons, `in` and `notin` lists of one length, NULLs in the same places). The
actions of one shape become rows of a VALUES list (the action's number, then its values typed as
the columns they are compared with), and one LATERAL subquery, built once, finds each row's
matches: the same rows, in the same order, as each action's own subquery.

Filters through relationships or into JSON, and other operators, keep their own subquery.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ARRAY,
    Enum,
    Integer,
    Select,
    String,
    bindparam,
    column,
    func,
    literal,
    select,
    true,
    values,
)

from dataapi.mutate.matching import matching_ids
from dataapi.query.validate import BoolOp, Filter
from dataapi.registry import ModelInfo

OPS = frozenset({"==", "!=", ">", ">=", "<", "<=", "in", "notin"})
"""Operators that bind their value as sent (dataapi.query.operators): a column may stand for it."""
LISTS = frozenset({"in", "notin"})


class _Unshaped(Exception):
    """A condition whose value cannot come from a column of the VALUES list."""


@dataclass(frozen=True, slots=True)
class Shaped:
    """A filter's shape, its values in walk order (NULLs stay in the shape) and their SQL types."""

    key: tuple[Any, ...]
    values: list[Any]
    types: list[Any]


def shape(model: ModelInfo, filters: BoolOp | None) -> Shaped | None:
    """The shape of `filters` on `model`'s own columns; None when it has none (see the module)."""
    found: list[Any] = []
    types: list[Any] = []

    def node(f: Filter) -> Any:
        if isinstance(f, BoolOp):
            return (f.kind, tuple(node(c) for c in f.children))
        path, column_info = f.path, f.path.column
        if f.op not in OPS or path.hops or column_info is None or path.json_path:
            raise _Unshaped
        if column_info.kind == "json" or path.model is not model:
            raise _Unshaped
        sql_type = model.table.c[column_info.key].type
        if f.op in LISTS:
            if not isinstance(f.value, list):
                raise _Unshaped
            pattern: Any = tuple(v is None for v in f.value)
            present = [v for v in f.value if v is not None]
        else:
            pattern = f.value is None
            present = [] if f.value is None else [f.value]
        found.extend(present)
        types.extend(sql_type for _ in present)
        return (column_info.key, f.op, pattern)

    if filters is None:
        return Shaped((), [], [])
    try:
        key = node(filters)
    except _Unshaped:
        return None
    return Shaped(key, found, types)


def _with_columns(filters: BoolOp, columns: list[Any]) -> BoolOp:
    """`filters` with its values replaced, in walk order, by `columns` (NULLs kept)."""
    taken = iter(columns)

    def node(f: Filter) -> Filter:
        if isinstance(f, BoolOp):
            return BoolOp(f.kind, tuple(node(c) for c in f.children))
        if f.op in LISTS:
            return replace(f, value=[None if v is None else next(taken) for v in f.value])
        return f if f.value is None else replace(f, value=next(taken))

    return node(filters)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Member:
    """One action of a shaped group: its number in the lookup statement and its filter's values."""

    k: int
    values: list[Any]


def _as_array(sql_type: Any) -> bool:
    """Text and integer columns, whose values pg8000 sends as arrays as they are."""
    return isinstance(sql_type, String | Integer) and not isinstance(sql_type, Enum)


def shaped_part(
    target: ModelInfo,
    filters: BoolOp | None,
    types: list[Any],
    members: list[Member],
    *,
    first: bool,
    left: int,
) -> Any:
    """One SELECT of (k, id, n) for every member: `filters` is one member's (the shape's), `first`
    finds the newest match only, else at most `left` + 1 matches counted per member (n), as
    Linker._lookup counts them."""
    names = [f"v{i}" for i in range(len(types))]
    columns = [column("k", Integer), *(column(n, t) for n, t in zip(names, types, strict=True))]
    rows: Any
    if all(_as_array(t) for t in types):
        # One array per column, unnested: a statement SQLAlchemy compiles once per shape.
        arrays = [bindparam(None, [m.k for m in members], type_=ARRAY(Integer))]
        arrays += [
            bindparam(None, [m.values[i] for m in members], type_=ARRAY(t)) for i, t in enumerate(types)
        ]
        rows = func.unnest(*arrays).table_valued(*columns).render_derived(name="asked")
    else:  # other types as rows of a VALUES list (compiled for every request: its rows are literals)
        rows = values(*columns, name="asked").data([(m.k, *m.values) for m in members])
    where = None if filters is None else _with_columns(filters, [rows.c[n] for n in names])
    ids = matching_ids(target, where, first=first)
    if not first:
        ids = ids.limit(left + 1)
    found = ids.correlate(rows).lateral("found")
    n = literal(0) if first else func.count().over(partition_by=rows.c.k)
    return select(rows.c.k.label("k"), found.c[0].label("id"), n.label("n")).select_from(
        rows.join(found, true())
    )


def shaped_parts(
    target: ModelInfo, asked: list[tuple[BoolOp | None, bool]], left: int
) -> tuple[list[Select[Any]], list[int]]:
    """The parts of the lookup statement for the actions (readable filters, first) that share
    their shape with another, and the numbers of the others, in order (each its own subquery)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    shapes: list[Shaped | None] = []
    for k, (filters, first) in enumerate(asked):
        found = shape(target, filters)
        shapes.append(found)
        if found is not None:
            groups.setdefault((first, found.key), []).append(k)
    parts, alone = [], [k for k, found in enumerate(shapes) if found is None]
    for (first, _), ks in groups.items():
        if len(ks) == 1:
            alone.extend(ks)
            continue
        members = [Member(k, shapes[k].values) for k in ks]  # type: ignore[union-attr]
        types = shapes[ks[0]].types  # type: ignore[union-attr]
        parts.append(shaped_part(target, asked[ks[0]][0], types, members, first=first, left=left))
    return parts, sorted(alone)
