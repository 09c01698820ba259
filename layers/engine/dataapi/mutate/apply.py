"""Apply validated writes. Plain column work runs set-based (one INSERT, UPDATE or DELETE);
relationship actions use the ORM unit of work on the rows they concern.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import ColumnElement, FromClause, delete, insert, literal, select, union_all, update
from sqlalchemy.orm import MANYTOONE, ONETOMANY, Session

from dataapi.errors import LimitExceeded, NotFound
from dataapi.identity.policy import Operation
from dataapi.mutate.bounds import precount
from dataapi.mutate.serial import lock_link
from dataapi.mutate.values import Create, Link, RowValues, Through, Unlink
from dataapi.query.joins import Aliases
from dataapi.query.validate import BoolOp
from dataapi.query.where import compile_where
from dataapi.registry import ModelInfo, RelationshipInfo


class Budget:
    """Counts rows a request touches, against the configured limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, rows: int, at: str) -> None:
        self.used += rows
        if self.used > self.limit:
            raise LimitExceeded(
                f"The request touches more than {self.limit} rows; split it or narrow its filters.",
                at=at or "/",
                detail=f"limit=rows_touched max={self.limit}",
            )


class WriteAuthorizer(Protocol):
    """Policy checks that need loaded rows (dataapi.identity.authorize.Authorizer implements it)."""

    def restrict(self, model: ModelInfo, op: Operation, filters: BoolOp | None) -> BoolOp | None: ...
    def row(self, model: ModelInfo, op: Operation, obj: Any, at: str) -> None: ...
    def relationship(self, rel: RelationshipInfo, parent: Any, related: list[Any], at: str) -> None: ...


class RowHook(Protocol):
    """Per-row side effects of a model (User rows mirror Cognito users): disables set-based paths."""

    def created(self, obj: Any, row: RowValues) -> None: ...
    def updated(self, obj: Any, row: RowValues, before: dict[str, Any]) -> None: ...
    def deleting(self, obj: Any) -> None: ...


class Writer:
    def __init__(
        self,
        session: Session,
        budget: Budget,
        actor: str,
        auth: WriteAuthorizer | None = None,
        hooks: dict[str, RowHook] | None = None,
        missing_ok: bool = False,
    ) -> None:
        self.session = session
        self.budget = budget
        self.actor = actor  # stamped on caller-stamped columns of created rows
        self.auth = auth
        self.hooks = hooks or {}
        self.missing_ok = missing_ok  # scheduled runs: nothing matched is a run of 0 rows, not an error
        self._linked: dict[int, list[Any]] = {}  # link action -> its rows, found once per request
        self._prefetched: dict[int, list[Any]] = {}  # link action -> rows looked up ahead, not yet used

    def _stamped(self, row: RowValues) -> dict[str, Any]:
        columns = dict(row.columns)
        for col in row.model.columns.values():
            if col.caller_stamped:
                columns[col.key] = self.actor
        return columns

    # ---- matching rows --------------------------------------------------------------------

    def where(self, model: ModelInfo, filters: BoolOp, root: FromClause | None = None) -> ColumnElement[bool]:
        return compile_where(filters, model.table if root is None else root, Aliases())

    def matching_ids(self, model: ModelInfo, filters: BoolOp | None, first: bool) -> Any:
        """A subquery of the ids that match, in the default order (first match = highest id)."""
        pk = model.table.c[model.pk.key]
        query = select(pk)
        if filters is not None and filters.children:
            query = query.where(self.where(model, filters))
        query = query.order_by(pk.desc())
        return query.limit(1) if first else query

    # ---- create ---------------------------------------------------------------------------

    def create_members(self, members: list[tuple[ModelInfo, list[RowValues], bool]]) -> list[list[Any]]:
        """Create the rows of each batch member (model, rows, may merge), in order; their ids.

        Consecutive members that may merge, of one model without hooks, whose rows carry only
        plain links (dataapi.mutate.apply.Writer.prefetch), are written together: one lookup per
        link target model and one multi-row INSERT per table for all of them.
        """
        out: list[list[Any]] = []
        i = 0
        while i < len(members):
            model, rows, merge = members[i]
            j = i + 1
            if merge and self._mergeable(model, rows):
                while j < len(members) and members[j][0] is model and members[j][2]:
                    if not self._mergeable(model, members[j][1]):
                        break
                    j += 1
            if j == i + 1:
                out.append(self.create(model, rows))
            else:
                group = [m[1] for m in members[i:j]]
                for part in group:
                    self.budget.spend(len(part), part[0].at)
                ids = self._insert(model, [r for part in group for r in part])
                for part in group:
                    out.append(ids[: len(part)])
                    ids = ids[len(part) :]
            i = j
        return out

    def _mergeable(self, model: ModelInfo, rows: list[RowValues]) -> bool:
        return model.name not in self.hooks and all(self._only_plain_links(r) for r in rows)

    def create(self, model: ModelInfo, rows: list[RowValues]) -> list[Any]:
        """Insert rows, returning their ids in order. Rows without actions go in one multi-row INSERT."""
        self.budget.spend(len(rows), rows[0].at)
        return self._insert(model, rows)

    def _insert(self, model: ModelInfo, rows: list[RowValues]) -> list[Any]:
        if model.name not in self.hooks and all(not r.actions for r in rows):
            self.session.flush()
            # ORM bulk INSERT: rows batch by key set into multi-row VALUES, ids come back in order.
            stmt = insert(model.cls).returning(getattr(model.cls, model.pk.key), sort_by_parameter_order=True)
            return list(self.session.scalars(stmt, [self._stamped(r) for r in rows]))
        self.prefetch(rows)
        objects = [self.new(r) for r in rows]
        self.session.flush()
        return [getattr(o, model.pk.key) for o in objects]

    def new(self, row: RowValues, parent: tuple[str, Any] | None = None) -> Any:
        """A row of row.model; `parent` (many-to-one key, object) attaches it to its parent."""
        self.prefetch([row])  # before the row is pending: a lookup's autoflush must not insert it half-made
        obj = row.model.cls(**self._stamped(row))
        if parent is not None:
            setattr(obj, parent[0], parent[1])  # appended through the child's key: no collection load
        self.session.add(obj)
        self.apply_actions(obj, row)
        hook = self.hooks.get(row.model.name)
        if hook is not None:
            self.session.flush()  # database work first: constraint errors surface before any side effect
            hook.created(obj, row)
        return obj

    # ---- update ---------------------------------------------------------------------------

    def update(
        self, model: ModelInfo, values: RowValues, filters: BoolOp | None, first: bool, at: str
    ) -> list[Any]:
        ids_query = self.matching_ids(model, filters, first)
        pk = model.table.c[model.pk.key]
        self.session.flush()
        if not values.actions and model.name not in self.hooks:
            if values.columns:
                stmt = update(model.table).where(pk.in_(ids_query)).values(values.columns).returning(pk)
                ids = sorted(self.session.scalars(stmt), reverse=True)  # the default order, id DESC
                self.session.expire_all()
            else:
                ids = list(self.session.scalars(ids_query))
            self._found(model, ids, at)
            return ids
        if not first:
            precount(self.session, ids_query, self.budget, at)
        if model.name not in self.hooks and all(self._set_based(a) for a in values.actions):
            return self._update_set_based(model, values, ids_query, at)
        objects = self.load(model, ids_query)
        self._found(model, [getattr(o, model.pk.key) for o in objects], at)
        for obj in objects:
            self.apply(obj, values)
        self.session.flush()
        return [getattr(o, model.pk.key) for o in objects]

    # ---- updates whose actions need no loaded rows -------------------------------------------

    def _set_based(self, action: Any) -> bool:
        """A plain link of a many-to-one, or rows without actions created under a one-to-many
        (appended through their key to the parent's primary key): no row needs loading."""
        rel = action.rel
        if isinstance(action, Link):
            return (
                action.also_do is None and action.create_if_none is None and rel.prop.direction is MANYTOONE
            )
        if isinstance(action, Create):
            parent_pk = rel.parent.table.c[rel.parent.pk.key]
            return (
                rel.prop.direction is ONETOMANY
                and action.append
                and rel.target.name not in self.hooks
                and all(local is parent_pk for local, _ in rel.pairs)
                and all(not r.actions for r in action.rows)
            )
        return False

    def _update_set_based(self, model: ModelInfo, values: RowValues, ids_query: Any, at: str) -> list[Any]:
        """One UPDATE (columns and many-to-one keys) and one INSERT per child table.

        Same checks, errors and order as row by row: the update's own 404 before a link's,
        the budget spent per row in action order, the relationship guard per row."""
        links = [a for a in values.actions if isinstance(a, Link)]
        found = self._lookup_grouped(links)
        keys: dict[str, Any] = {}
        for action in links:
            rows = found[id(action)]
            if not rows:
                self._found(model, list(self.session.scalars(ids_query)), at)
                raise self._no_match(action)
            target = action.rel.target
            for local, remote in action.rel.pairs:
                keys[local.key] = getattr(rows[0], target.mapper.get_property_by_column(remote).key)
        pk = model.table.c[model.pk.key]
        if values.columns or keys:
            stmt = (
                update(model.table).where(pk.in_(ids_query)).values({**values.columns, **keys}).returning(pk)
            )
            ids = sorted(self.session.scalars(stmt), reverse=True)  # the default order, id DESC
        else:
            ids = list(self.session.scalars(ids_query))
        self._found(model, ids, at)
        children: dict[str, tuple[ModelInfo, list[dict[str, Any]]]] = {}
        for i, row_id in enumerate(ids):
            parent = SimpleNamespace(**{model.pk.key: row_id})
            for step in values.actions:
                if isinstance(step, Link):
                    related = found[id(step)][:1]
                    if i == 0:
                        self.budget.spend(len(related), step.at)
                elif isinstance(step, Create):
                    self.budget.spend(len(step.rows), step.at)
                    target = step.rel.target
                    related = [SimpleNamespace(**{target.pk.key: None}) for _ in step.rows]
                    fk = {remote.key: row_id for _, remote in step.rel.pairs}
                    batch = children.setdefault(target.name, (target, []))[1]
                    batch.extend({**self._stamped(r), **fk} for r in step.rows)
                if self.auth is not None:
                    self.auth.relationship(step.rel, parent, related, step.at)
        for target, rows in children.values():
            self.session.execute(insert(target.cls), rows)
        self.session.expire_all()
        return ids

    def load(self, model: ModelInfo, ids_query: Any) -> list[Any]:
        mapped_pk = getattr(model.cls, model.pk.key)
        return list(
            self.session.scalars(select(model.cls).where(mapped_pk.in_(ids_query)).order_by(mapped_pk.desc()))
        )

    def apply(self, obj: Any, values: RowValues) -> None:
        self.prefetch([values])  # before the columns change: one UPDATE for columns and links
        hook = self.hooks.get(values.model.name)
        before = {key: getattr(obj, key) for key in values.columns} if hook is not None else {}
        for key, value in values.columns.items():
            setattr(obj, key, value)
        self.apply_actions(obj, values)
        if hook is not None:
            self.session.flush()
            hook.updated(obj, values, before)

    # ---- delete ---------------------------------------------------------------------------

    def delete(
        self, model: ModelInfo, filters: BoolOp | None, first: bool, also_do: RowValues | None, at: str
    ) -> list[Any]:
        ids_query = self.matching_ids(model, filters, first)
        pk = model.table.c[model.pk.key]
        hook = self.hooks.get(model.name)
        if also_do is not None or hook is not None:
            if not first:
                precount(self.session, ids_query, self.budget, at)
            objects = self.load(model, ids_query)
            self._found(model, [getattr(o, model.pk.key) for o in objects], at)
            for obj in objects:
                if also_do is not None:
                    self.apply(obj, also_do)
                if hook is not None:
                    hook.deleting(obj)
            ids = [getattr(o, model.pk.key) for o in objects]
            self.session.flush()
            self.session.execute(delete(model.table).where(pk.in_(ids)))
        else:
            self.session.flush()
            ids = list(self.session.scalars(delete(model.table).where(pk.in_(ids_query)).returning(pk)))
            self._found(model, ids, at)
        # Rows deleted set-based (and their cascades) must not linger in the identity map.
        self.session.expire_all()
        return ids

    def _found(self, model: ModelInfo, ids: list[Any], at: str) -> None:
        if not ids and not self.missing_ok:
            raise NotFound(f"No {model.name} matched the filters.", at=at, detail=f"model={model.name}")
        self.budget.spend(len(ids), at)

    # ---- relationship actions -------------------------------------------------------------

    def apply_actions(self, obj: Any, row: RowValues) -> None:
        for action in row.actions:
            if isinstance(action, Link):
                self._link(obj, action)
            elif isinstance(action, Unlink):
                self._unlink(obj, action)
            elif isinstance(action, Create):
                self._create(obj, action)
            else:
                self._through(obj, action)

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
            plain = self._plain_links(row)
            if len(rows) > 1 and not self._only_plain_links(row):
                return
            ahead.extend(a for a in plain if id(a) not in self._linked and id(a) not in self._prefetched)
        self._prefetched.update(self._lookup_grouped(ahead))

    def _lookup_grouped(self, actions: list[Link]) -> dict[int, list[Any]]:
        by_target: dict[str, list[Link]] = {}
        for action in actions:
            by_target.setdefault(action.rel.target.name, []).append(action)
        found: dict[int, list[Any]] = {}
        for group in by_target.values():
            found.update(self._lookup(group))
        return found

    def _only_plain_links(self, row: RowValues) -> bool:
        """Every action a plain link to another model: nothing the row does changes what they find."""
        plain = self._plain_links(row)
        return len(plain) == len(row.actions) and all(a.rel.target.name != row.model.name for a in plain)

    @staticmethod
    def _plain_links(row: RowValues) -> list[Link]:
        plain = []
        for action in row.actions:
            if (
                not isinstance(action, Link)
                or action.also_do is not None
                or action.create_if_none is not None
            ):
                break
            plain.append(action)
        return plain

    def _lookup(self, actions: list[Link]) -> dict[int, list[Any]]:
        """The rows each link action matches (same target model), in one statement."""
        target = actions[0].rel.target
        parts = []
        for k, action in enumerate(actions):
            # A to-one holds one row: only the first match is linked (and gets also_do).
            first = action.first or not action.rel.uselist
            filters = self.auth.restrict(target, "get", action.filters) if self.auth else action.filters
            ids = self.matching_ids(target, filters, first).subquery()
            parts.append(select(literal(k).label("k"), ids.c[0].label("id")))
        matched = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
        mapped_pk = getattr(target.cls, target.pk.key)
        query = (
            select(matched.c.k, target.cls)
            .join(target.cls, mapped_pk == matched.c.id)
            .order_by(matched.c.k, mapped_pk.desc())
        )
        found: dict[int, list[Any]] = {id(a): [] for a in actions}
        for k, row in self.session.execute(query):
            found[id(actions[k])].append(row)
        return found

    def _link(self, obj: Any, action: Link) -> None:
        rows = self._linked.get(id(action))
        if rows is None:
            target = action.rel.target
            if action.create_if_none is not None:  # one creator per filter at a time
                filters = self.auth.restrict(target, "get", action.filters) if self.auth else action.filters
                lock_link(self.session, target, filters)
            rows = self._prefetched.pop(id(action), None)
            if rows is None:
                rows = self._lookup([action])[id(action)]
            if not rows:
                if action.create_if_none is None:
                    raise self._no_match(action)
                rows = [self.new(action.create_if_none)]
            elif action.also_do is not None:
                for linked in rows:
                    self._check_row(target, linked, action.at)
                    self.apply(linked, action.also_do)
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

    @staticmethod
    def _no_match(action: Link) -> NotFound:
        return NotFound(
            f"No {action.rel.target.name} matched the link on '{action.rel.key}'.",
            at=action.at,
            detail=f"field={action.rel.key}",
        )

    def _unlink(self, obj: Any, action: Unlink) -> None:
        key = action.rel.key
        target = action.rel.target
        current = getattr(obj, key)
        related = list(current) if action.rel.uselist else [current] if current is not None else []
        if action.filters is None or not related:
            chosen = related
        else:
            ids = [getattr(r, target.pk.key) for r in related]
            pk = target.table.c[target.pk.key]
            query = select(pk).where(pk.in_(ids), self.where(target, action.filters)).order_by(pk.desc())
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

    def _create(self, obj: Any, action: Create) -> None:
        self.budget.spend(len(action.rows), action.at)
        through_key = _many_to_one(action.rel) if action.rel.uselist and action.append else None
        parent = (through_key, obj) if through_key is not None else None
        self.prefetch(action.rows)
        created = [self.new(r, parent) for r in action.rows]
        if self.auth is not None:
            replaced = [] if action.append or not action.rel.uselist else list(getattr(obj, action.rel.key))
            self.auth.relationship(action.rel, obj, created + replaced, action.at)
        key = action.rel.key
        if not action.rel.uselist:
            setattr(obj, key, created[0])
        elif through_key is None:
            if action.append:
                getattr(obj, key).extend(created)
            else:
                setattr(obj, key, created)

    def _through(self, obj: Any, action: Through) -> None:
        current = getattr(obj, action.rel.key)
        related = list(current) if action.rel.uselist else [current] if current is not None else []
        self.budget.spend(len(related), action.at)
        for r in related:
            self._check_row(action.rel.target, r, action.at)
            self.apply(r, action.values)

    def _check_row(self, model: ModelInfo, obj: Any, at: str) -> None:
        if self.auth is not None:
            self.auth.row(model, "update", obj, at)


def _many_to_one(rel: RelationshipInfo) -> str | None:
    """The child's key back to the parent of a one-to-many (`item` of `Item.item_history`), if any."""
    back = rel.prop.back_populates
    if rel.secondary is not None or not back:
        return None
    reverse = rel.target.relationships.get(back)
    return back if reverse is not None and not reverse.uselist else None
