"""Link and unlink actions: the rows a link matches are looked up (one statement per target model,
ahead of time where nothing the request writes first could change what they find), then
attached to or detached from their parent row through the ORM.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Select, and_, func, inspect, literal, select, union_all
from sqlalchemy.orm import Session, with_parent
from sqlalchemy.orm.attributes import set_committed_value

from dataapi.errors import NotFound
from dataapi.mutate.bounds import Budget
from dataapi.mutate.interfaces import WriteAuthorizer
from dataapi.mutate.lookups import shaped_parts
from dataapi.mutate.matching import matching_ids, where
from dataapi.mutate.serial import lock_link
from dataapi.mutate.values import Link, RowValues, Unlink
from dataapi.registry import ModelInfo, RelationshipInfo


class RowWriter(Protocol):
    """What a link needs of the Writer: a row created (link-or-create), values applied (also_do)."""

    def new(self, row: RowValues) -> Any: ...
    def apply(self, obj: Any, values: RowValues) -> None: ...


class Linker:
    """The link and unlink actions of one request; each link's rows are found once."""

    def __init__(
        self, session: Session, budget: Budget, auth: WriteAuthorizer | None, rows: RowWriter
    ) -> None:
        self.session = session
        self.budget = budget
        self.auth = auth
        self.rows = rows
        self._linked: dict[int, list[Any]] = {}  # link action -> its rows, found once per request
        self._prefetched: dict[int, list[Any]] = {}  # link action -> rows looked up ahead, not yet used
        self._over: dict[int, int] = {}  # link action -> its bounded count, over the budget: nothing loaded

    # ---- links looked up ahead, set-based ----------------------------------------------------

    def prefetch(self, rows: list[RowValues]) -> None:
        """Look up the plain links of `rows` ahead, one statement per target model.

        Plain: no also_do, no link-or-create. Only links that come before any other action of
        their row are taken, and only when every row of the list qualifies for more than one
        row: a lookup must still see every row the request wrote before it (a nested create, an
        also_do, an earlier row). What a lookup found is used, and its errors raised, where the
        link is applied, as before.
        """
        ahead: list[Link] = []
        for row in rows:
            plain = plain_links(row)
            if len(rows) > 1 and not only_plain_links(row):
                return
            ahead.extend(a for a in plain if id(a) not in self._linked and id(a) not in self._prefetched)
        self._prefetched.update(self.lookup_grouped(ahead))

    def lookup_grouped(self, actions: list[Link], *, keys_only: bool = False) -> dict[int, list[Any]]:
        """The rows each link action matches, by id(action): one statement per target model.
        `keys_only`: rows of the target's primary and link keys only (`link_keys`), not loaded
        objects, for writes that set keys set-based and attach nothing through the ORM."""
        by_target: dict[str, list[Link]] = {}
        for action in actions:
            by_target.setdefault(action.rel.target.name, []).append(action)
        found: dict[int, list[Any]] = {}
        for group in by_target.values():
            found.update(self._lookup(group, keys_only=keys_only))
        return found

    def settle(self, action: Link, rows: list[Any]) -> list[Any]:
        """A plain link's rows as looked up, refused and spent where `link` refuses and spends
        them: over the budget, then nothing matched (404 at the link), then the rows spent."""
        if id(action) in self._over:
            self.budget.spend(self._over[id(action)], action.at)  # raises: more than was left
        if not rows:
            raise no_match(action)
        self.budget.spend(len(rows), action.at)
        self._linked[id(action)] = rows
        return rows

    def _lookup(self, actions: list[Link], *, keys_only: bool = False) -> dict[int, list[Any]]:
        """The rows each link action matches (same target model), in one statement.

        An `all_link` to-many finds at most one more id than the budget has left, counted in the
        same statement (a window count): when that is over, none of its rows is loaded and the
        action is marked `Over`, whose count the link spends, refusing where it always did."""
        target = actions[0].rel.target
        left = max(self.budget.limit - self.budget.used, 0)
        keys = link_keys(actions) if keys_only else []
        if len(keys) == 1 and len(actions) == 1 and (actions[0].first or not actions[0].rel.uselist):
            # One to-one (or first) link whose key is the primary key: the lookup is its first id.
            ids = matching_ids(target, self._readable(target, actions[0]), first=True)
            return {id(actions[0]): list(self.session.execute(ids.with_only_columns(keys[0])))}
        # A to-one holds one row: only the first match is linked (and gets also_do).
        asked = [(self._readable(target, a), a.first or not a.rel.uselist) for a in actions]
        parts, alone = shaped_parts(target, asked, left)  # actions of one filter shape: one part
        for k in alone:
            filters, first = asked[k]
            ids = matching_ids(target, filters, first=first)
            if first:
                found = ids.subquery()
                parts.append(select(literal(k).label("k"), found.c[0].label("id"), literal(0).label("n")))
            else:
                found = ids.limit(left + 1).subquery()
                n = func.count().over().label("n")
                parts.append(select(literal(k).label("k"), found.c[0].label("id"), n))
        matched = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
        mapped_pk = getattr(target.cls, target.pk.key)
        on = and_(mapped_pk == matched.c.id, matched.c.n <= left)
        if keys_only:
            query = select(matched.c.k, matched.c.n, *keys).outerjoin(target.table, on)
        else:
            query = select(matched.c.k, matched.c.n, target.cls).outerjoin(target.cls, on)
        query = query.order_by(matched.c.k, matched.c.id.desc())
        found_rows: dict[int, list[Any]] = {id(a): [] for a in actions}
        for got in self.session.execute(query):
            k, n = got[0], got[1]
            key = id(actions[k])
            if n > left:
                self._over[key] = n
            else:
                found_rows[key].append(got if keys_only else got[2])
        return found_rows

    def related(self, obj: Any, rel: RelationshipInfo, at: str) -> list[Any]:
        """The rows `obj` holds through `rel`, refused (LimitExceeded at `at`) before loading when
        more than the budget has left: a to-many not yet loaded is read with at most one more id
        than that, counted in the same statement, instead of loading the whole collection."""
        state = inspect(obj)
        if not rel.uselist or rel.key not in state.unloaded or not state.persistent:
            current = getattr(obj, rel.key)
            return list(current) if rel.uselist else [current] if current is not None else []
        target = rel.target
        left = max(self.budget.limit - self.budget.used, 0)
        pk = target.table.c[target.pk.key]
        ids = (
            select(pk)
            .where(with_parent(obj, getattr(type(obj), rel.key)))
            .order_by(pk.desc())
            .limit(left + 1)
            .subquery()
        )
        counted = select(ids.c[0].label("id"), func.count().over().label("n")).subquery()
        mapped_pk = getattr(target.cls, target.pk.key)
        query = (
            select(counted.c.n, target.cls)
            .outerjoin(target.cls, and_(mapped_pk == counted.c.id, counted.c.n <= left))
            .order_by(counted.c.id.desc())
        )
        found = self.session.execute(query).all()
        if found and found[0].n > left:
            self.budget.spend(found[0].n, at)  # raises: more than was left
        return [row for _, row in found]

    def _readable(self, target: ModelInfo, action: Link) -> Any:
        """A link finds only rows the caller may read."""
        return self.auth.restrict(target, "get", action.filters) if self.auth else action.filters

    # ---- applying them ----------------------------------------------------------------------

    def link(self, obj: Any, action: Link) -> None:
        rows = self._linked.get(id(action))
        if rows is None:
            target = action.rel.target
            if action.create_if_none is not None:  # one creator per filter at a time
                lock_link(self.session, target, self._readable(target, action))
            rows = self._prefetched.pop(id(action), None)
            if rows is None:
                rows = self._lookup([action])[id(action)]
            if id(action) in self._over:
                self.budget.spend(self._over[id(action)], action.at)  # raises: more than was left
            if not rows:
                if action.create_if_none is None:
                    raise no_match(action)
                rows = [self.rows.new(action.create_if_none)]
            elif action.also_do is not None:
                for linked in rows:
                    if self.auth is not None:
                        self.auth.row(target, "update", linked, action.at)
                    self.rows.apply(linked, action.also_do)
            self.budget.spend(len(rows), action.at)
            self._linked[id(action)] = rows
        key = action.rel.key
        if self.auth is not None:
            self.auth.relationship(action.rel, obj, rows, action.at)
        if action.rel.uselist:
            collection = getattr(obj, key)
            for linked in rows:
                if linked not in collection:
                    collection.append(linked)
        else:
            setattr(obj, key, rows[0])

    def unlink(self, obj: Any, action: Unlink) -> None:
        key = action.rel.key
        target = action.rel.target
        if action.rel.uselist:
            related = self._linked_now(obj, action.rel)
            current = getattr(obj, key)
        else:  # a to-one: its key is on `obj` itself, which the write holds anyway
            current = getattr(obj, key)
            related = [current] if current is not None else []
        if action.filters is None or not related:
            chosen = related
        else:
            ids = [getattr(r, target.pk.key) for r in related]
            pk = target.table.c[target.pk.key]
            query = select(pk).where(pk.in_(ids), where(target, action.filters)).order_by(pk.desc())
            if action.first:
                query = query.limit(1)
            keep = set(self.session.scalars(query))
            chosen = [r for r in related if getattr(r, target.pk.key) in keep]
        self.budget.spend(len(chosen), action.at)
        if self.auth is not None:
            self.auth.relationship(action.rel, obj, chosen, action.at)
        if action.rel.uselist:
            for r in chosen:
                current.remove(r)
        elif chosen:
            setattr(obj, key, None)

    def _linked_now(self, obj: Any, rel: RelationshipInfo) -> list[Any]:
        """The rows linked to `obj` through the collection `rel`, as committed now, their links
        locked until the commit (the link table's rows, or the children holding the key), and
        made the collection's loaded state.

        Concurrent unlinks each delete the links they loaded; under READ COMMITTED the later ones
        would find theirs gone, and the ORM, counting what its DELETE matched, fail
        (StaleDataError). Locked, a later one waits, then finds only the links still there (a
        locked row another transaction deleted is skipped), and unlinks those: unlinking what is
        already unlinked is no error. Locks are taken in the target's key order.
        """
        if not inspect(obj).persistent:  # not in the database yet: only what this request attached
            return list(getattr(obj, rel.key))
        self.session.flush()  # this request's own changes first, so the lookup sees them
        target = rel.target
        mapper = rel.parent.mapper
        keys = [
            local == getattr(obj, mapper.get_property_by_column(parent).key) for parent, local in rel.pairs
        ]
        query: Select[Any] = select(target.cls)
        if rel.secondary is not None:
            query = query.join(rel.secondary, and_(*(t == s for t, s in rel.secondary_pairs)))
        holder = rel.secondary if rel.secondary is not None else target.table
        mapped_pk = getattr(target.cls, target.pk.key)
        query = query.where(*keys).order_by(mapped_pk).with_for_update(of=holder)
        rows = list(self.session.scalars(query))
        set_committed_value(obj, rel.key, rows)
        return rows


def link_keys(actions: list[Link]) -> list[Any]:
    """The columns of the links' target a link reads from a row it found: the primary key and the
    columns the links join on, each labelled with its attribute name (so that a found row answers
    `getattr(row, key)` as a loaded object does)."""
    target = actions[0].rel.target
    wanted = [target.table.c[target.pk.key]]
    for action in actions:
        rel = action.rel
        joined = [r for _, r in rel.pairs] if rel.secondary is None else [t for t, _ in rel.secondary_pairs]
        wanted.extend(c for c in joined if c.table is target.table)
    unique = list({id(c): c for c in wanted}.values())
    return [c.label(target.mapper.get_property_by_column(c).key) for c in unique]


def plain_links(row: RowValues) -> list[Link]:
    """The row's leading links without also_do or link-or-create."""
    plain = []
    for action in row.actions:
        if not isinstance(action, Link) or action.also_do is not None or action.create_if_none is not None:
            break
        plain.append(action)
    return plain


def only_plain_links(row: RowValues) -> bool:
    """Every action a plain link to another model: nothing the row does changes what they find."""
    plain = plain_links(row)
    return len(plain) == len(row.actions) and all(a.rel.target.name != row.model.name for a in plain)


def no_match(action: Link) -> NotFound:
    return NotFound(
        f"No {action.rel.target.name} matched the link on '{action.rel.key}'.",
        at=action.at,
        detail=f"field={action.rel.key}",
    )
