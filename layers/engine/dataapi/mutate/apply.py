"""Apply validated writes. Plain column work runs set-based (one INSERT, UPDATE or DELETE);
relationship actions use the ORM unit of work on the rows they concern.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import ColumnElement, FromClause, delete, insert, select, update
from sqlalchemy.orm import Session

from dataapi.errors import LimitExceeded, NotFound
from dataapi.mutate.bounds import precount
from dataapi.mutate.serial import lock_link
from dataapi.mutate.values import Create, Link, RowValues, Through, Unlink
from dataapi.policy import Operation
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


class Guard(Protocol):
    """Policy checks that need loaded rows (dataapi.authorize.Authorizer implements it)."""

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
        guard: Guard | None = None,
        hooks: dict[str, RowHook] | None = None,
        missing_ok: bool = False,
    ) -> None:
        self.session = session
        self.budget = budget
        self.actor = actor  # stamped on caller-stamped columns of created rows
        self.guard = guard
        self.hooks = hooks or {}
        self.missing_ok = missing_ok  # scheduled runs: nothing matched is a run of 0 rows, not an error
        self._linked: dict[int, list[Any]] = {}  # link action -> its rows, found once per request

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

    def create(self, model: ModelInfo, rows: list[RowValues]) -> list[Any]:
        """Insert rows, returning their ids in order. Rows without actions go in one multi-row INSERT."""
        self.budget.spend(len(rows), rows[0].at)
        if model.name not in self.hooks and all(not r.actions for r in rows):
            self.session.flush()
            # ORM bulk INSERT: rows batch by key set into multi-row VALUES, ids come back in order.
            stmt = insert(model.cls).returning(getattr(model.cls, model.pk.key), sort_by_parameter_order=True)
            return list(self.session.scalars(stmt, [self._stamped(r) for r in rows]))
        objects = [self.new(r) for r in rows]
        self.session.flush()
        return [getattr(o, model.pk.key) for o in objects]

    def new(self, row: RowValues) -> Any:
        obj = row.model.cls(**self._stamped(row))
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
        objects = self.load(model, ids_query)
        self._found(model, [getattr(o, model.pk.key) for o in objects], at)
        for obj in objects:
            self.apply(obj, values)
        self.session.flush()
        return [getattr(o, model.pk.key) for o in objects]

    def load(self, model: ModelInfo, ids_query: Any) -> list[Any]:
        mapped_pk = getattr(model.cls, model.pk.key)
        return list(
            self.session.scalars(select(model.cls).where(mapped_pk.in_(ids_query)).order_by(mapped_pk.desc()))
        )

    def apply(self, obj: Any, values: RowValues) -> None:
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

    def _link(self, obj: Any, action: Link) -> None:
        rows = self._linked.get(id(action))
        if rows is None:
            target = action.rel.target
            # A to-one holds one row: only the first match is linked (and gets also_do).
            first = action.first or not action.rel.uselist
            filters = self.guard.restrict(target, "get", action.filters) if self.guard else action.filters
            if action.create_if_none is not None:
                lock_link(self.session, target, filters)  # one creator per filter at a time
            rows = self.load(target, self.matching_ids(target, filters, first))
            if not rows:
                if action.create_if_none is None:
                    raise NotFound(
                        f"No {target.name} matched the link on '{action.rel.key}'.",
                        at=action.at,
                        detail=f"field={action.rel.key}",
                    )
                rows = [self.new(action.create_if_none)]
            elif action.also_do is not None:
                for linked in rows:
                    self._check_row(target, linked, action.at)
                    self.apply(linked, action.also_do)
            self.budget.spend(len(rows), action.at)
            self._linked[id(action)] = rows
        key = action.rel.key
        if self.guard is not None:
            self.guard.relationship(action.rel, obj, rows, action.at)
        if action.rel.uselist:
            collection = getattr(obj, key)
            for linked in rows:
                if linked not in collection:
                    collection.append(linked)
        else:
            setattr(obj, key, rows[0])

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
        if self.guard is not None:
            self.guard.relationship(action.rel, obj, chosen, action.at)
        if action.rel.uselist:
            for r in chosen:
                current.remove(r)
        elif chosen:
            setattr(obj, key, None)

    def _create(self, obj: Any, action: Create) -> None:
        self.budget.spend(len(action.rows), action.at)
        created = [self.new(r) for r in action.rows]
        if self.guard is not None:
            replaced = [] if action.append or not action.rel.uselist else list(getattr(obj, action.rel.key))
            self.guard.relationship(action.rel, obj, created + replaced, action.at)
        key = action.rel.key
        if not action.rel.uselist:
            setattr(obj, key, created[0])
        elif action.append:
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
        if self.guard is not None:
            self.guard.row(model, "update", obj, at)
