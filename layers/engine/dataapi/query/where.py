"""The filter compiler, shared by reads and writes: validated filters -> one SQL boolean.

Paths through relationships become correlated EXISTS, so a parent is never returned twice and a
page counts parents. Conditions under the same relationship in one AND group share one EXISTS:
they hold on the same related row.
"""

from dataclasses import replace
from typing import Any

from sqlalchemy import Alias, ColumnElement, FromClause, Text, and_, cast, or_, true

from dataapi.query.joins import Aliases, exists
from dataapi.query.operators import OPERATORS, Leaf
from dataapi.query.validate import Filter, Path, Pred
from dataapi.registry import RelationshipInfo


def compile_where(node: Filter, alias: FromClause, aliases: Aliases) -> ColumnElement[bool]:
    if isinstance(node, Pred):
        return _pred(node, alias, aliases)
    if node.kind == "and":
        return _and(node.children, alias, aliases)
    parts = [compile_where(child, alias, aliases) for child in node.children]
    if node.kind == "or":
        return parts[0] if len(parts) == 1 else or_(*parts)
    # IS NOT TRUE, not NOT: a row whose wrapped condition is unknown (a NULL value) does not hold it.
    return _all(parts).is_not(true())


def _all(parts: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    if not parts:
        return true()
    return parts[0] if len(parts) == 1 else and_(*parts)


def _and(children: tuple[Filter, ...], alias: FromClause, aliases: Aliases) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    shared: dict[str, tuple[RelationshipInfo, list[Filter]]] = {}
    for child in children:
        if isinstance(child, Pred) and _shares_row(child):
            rel = child.path.hops[0]
            shared.setdefault(rel.key, (rel, []))[1].append(_strip(child))
        else:
            clauses.append(compile_where(child, alias, aliases))
    for rel, rest in shared.values():
        clauses.append(exists(rel, alias, aliases, lambda t, rest=rest: _and(tuple(rest), t, aliases)))  # type: ignore[misc]
    return _all(clauses)


def _shares_row(pred: Pred) -> bool:
    hops = pred.path.hops
    if not hops or (pred.path.column is None and len(hops) == 1):
        return False
    return hops[0].uselist or pred.op != "is_null"


def _strip(pred: Pred) -> Pred:
    return replace(pred, path=replace(pred.path, hops=pred.path.hops[1:]))


def _pred(pred: Pred, alias: FromClause, aliases: Aliases) -> ColumnElement[bool]:
    hops = pred.path.hops
    if not hops:
        return _leaf(pred, alias)
    rel = hops[0]
    if pred.path.column is None and len(hops) == 1:
        found = exists(rel, alias, aliases)
        return found if pred.op == "not_null" else ~found
    rest = _strip(pred)
    if not rel.uselist and pred.op == "is_null":
        # Through a to-one: the related row is missing, or its value is null.
        present = replace(rest, op="not_null")
        return ~exists(rel, alias, aliases, lambda t: _pred(present, t, aliases))
    return exists(rel, alias, aliases, lambda t: _pred(rest, t, aliases))


def leaf_of(path: Path, alias: FromClause) -> Leaf:
    col: Any = alias.c[path.column.key]  # type: ignore[union-attr]
    if path.json_path:
        value = col[path.json_path]
        return Leaf(value, value.astext, "json")
    kind = path.column.kind  # type: ignore[union-attr]
    return Leaf(col, col if kind == "str" else cast(col, Text), kind)


def _leaf(pred: Pred, alias: FromClause | Alias) -> ColumnElement[bool]:
    return OPERATORS[pred.op].build(leaf_of(pred.path, alias), pred.value)
