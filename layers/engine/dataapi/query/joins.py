"""Correlated access to a related table, used by filters (EXISTS) and projections (subqueries)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from sqlalchemy import Alias, ColumnElement, FromClause, Select, Table, and_, literal_column, select

from dataapi.registry import RelationshipInfo


class Aliases:
    """Names table aliases t0, t1, ... within one statement, so the SQL is readable and stable.

    Alias objects are immutable, so each (table, name) is built once per process and reused:
    building an alias's column collection costs more than compiling the statement that uses it.
    """

    _made: ClassVar[dict[tuple[Table, int], Alias]] = {}

    def __init__(self) -> None:
        self._n = 0

    def __call__(self, table: Table) -> Alias:
        key = (table, self._n)
        alias = self._made.get(key)
        if alias is None:
            alias = self._made[key] = cast(Alias, table.alias(f"t{self._n}"))
        self._n += 1
        return alias


@dataclass(frozen=True, slots=True)
class Hop:
    """One relationship hop from a parent row: the related table's alias, what to select it from
    (through the link table of a many-to-many), and the condition tying it to the parent."""

    target: Alias
    from_: FromClause
    on: ColumnElement[bool]


def related(rel: RelationshipInfo, parent: FromClause, aliases: Aliases) -> Hop:
    target = aliases(rel.target.table)
    if rel.secondary is None:
        cond = and_(*(target.c[remote.key] == parent.c[local.key] for local, remote in rel.pairs))
        return Hop(target, target, cond)
    link = aliases(rel.secondary)
    on = and_(*(target.c[t.key] == link.c[s.key] for t, s in rel.secondary_pairs))
    cond = and_(*(link.c[s.key] == parent.c[p.key] for p, s in rel.pairs))
    return Hop(target, target.join(link, on), cond)


def exists(
    rel: RelationshipInfo,
    parent: FromClause,
    aliases: Aliases,
    inner: Callable[[Alias], ColumnElement[bool]] | None = None,
) -> ColumnElement[bool]:
    hop = related(rel, parent, aliases)
    query: Select[Any] = select(literal_column("1")).select_from(hop.from_).where(hop.on)
    if inner is not None:
        query = query.where(inner(hop.target))
    return query.exists()
