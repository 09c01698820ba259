"""One statement per request shape: a read's SQL is built once per process for each shape, and
later requests of that shape only bind their own values to it.

Building a read's statement (SQLAlchemy constructs for the projection, the filters and the
keyset) costs more Python than anything else in a warm request, and the result depends on the
request's values only where they are bound. A shape is the validated read without those values:
model, fields, order, page size, count, and each filter and cursor value reduced to its place
(None stays in the shape: it changes the SQL). The first request of a shape builds the statement
with a `Slot` in place of each value and learns which bound parameter each slot became; later
requests pass their values by those parameters' names. Every operator binds its value as sent
(dataapi.query.operators); a read whose slots did not each become a bound parameter is built whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.sql.compiler import SQLCompiler

from dataapi.query.operators import OPERATORS
from dataapi.query.validate import BoolOp, ColumnField, Fields, Filter
from dataapi.recent import Recent
from dataapi.registry import ModelInfo

SIZE = 256
"""Shapes kept per process (least recently used dropped); a shape is a few statements' worth."""


class Slot:
    """Stands for the request's value number `index` while a shape's statement is built."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


@dataclass(frozen=True, slots=True)
class Abstract:
    """A read's filter and cursor values, and the same with each value replaced by its Slot."""

    key: tuple[Any, ...]
    values: list[Any]
    filters: BoolOp | None
    after: list[Any] | None


def abstract(filters: BoolOp | None, after: list[Any] | None) -> Abstract:
    values: list[Any] = []

    def slot(value: Any) -> Any:
        if value is None:
            return None
        values.append(value)
        return Slot(len(values) - 1)

    def node(f: Filter) -> tuple[Any, Filter]:
        if isinstance(f, BoolOp):
            parts = [node(c) for c in f.children]
            return (f.kind, tuple(p[0] for p in parts)), BoolOp(f.kind, tuple(p[1] for p in parts))
        if OPERATORS[f.op].shape in ("list", "keys", "range"):
            slotted: Any = type(f.value)(slot(v) for v in f.value)
            pattern: Any = tuple(v is None for v in f.value)
        else:
            slotted, pattern = slot(f.value), f.value is None
        path = f.path
        where = (tuple(h.key for h in path.hops), path.column.key if path.column else None, path.json_path)
        return (where, f.op, pattern), replace(f, value=slotted)

    key, slotted = node(filters) if filters is not None else ((), None)
    after_slots = None if after is None else [slot(v) for v in after]
    after_key = None if after is None else tuple(v is None for v in after)
    return Abstract((key, after_key), values, slotted, after_slots)  # type: ignore[arg-type]


def fields_key(fields: Fields) -> tuple[Any, ...]:
    return tuple(
        (e.name, e.column.key)
        if isinstance(e, ColumnField)
        else (e.name, e.relationship.key, fields_key(e.fields))
        for e in fields.entries
    )


@dataclass(frozen=True, slots=True)
class Bind:
    """A bound parameter of a shape's statement and the value number it takes (numbers, for an
    expanding IN list)."""

    name: str
    value: int | tuple[int, ...]


Binds = tuple[Bind, ...]


def binds(compiled: SQLCompiler, count: int) -> Binds | None:
    """Which named parameter each slot became; None if some slot did not become one whole."""
    found: list[Bind] = []
    seen: set[int] = set()
    for param, name in compiled.bind_names.items():
        value = param.value
        if isinstance(value, Slot):
            found.append(Bind(name, value.index))
            seen.add(value.index)
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Slot) for v in value):
            found.append(Bind(name, tuple(v.index for v in value)))
            seen.update(v.index for v in value)
        elif isinstance(value, list | tuple) and any(isinstance(v, Slot) for v in value):
            return None
    return tuple(found) if seen == set(range(count)) else None


def params(binds: Binds, values: list[Any]) -> dict[str, Any]:
    return {
        b.name: values[b.value] if isinstance(b.value, int) else [values[i] for i in b.value] for b in binds
    }


@dataclass(frozen=True, slots=True)
class Entry:
    model: ModelInfo  # the key holds its id(): kept here so it is never another model's
    built: Any


class Shapes:
    """The built statements of the last SIZE shapes."""

    def __init__(self, size: int = SIZE) -> None:
        self._known: Recent[tuple[Any, ...], Entry] = Recent(size)

    def get(self, model: ModelInfo, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        full = (id(model), *key)
        entry = self._known.get(full)
        if entry is not None and entry.model is model:
            return entry.built
        built = build()
        self._known.put(full, Entry(model, built))
        return built
