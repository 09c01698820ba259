"""Apply validated writes. Plain column work runs set-based (one INSERT, UPDATE or DELETE);
relationship actions use the ORM unit of work on the rows they concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import MANYTOONE, ONETOMANY, Session

from dataapi.errors import NotFound
from dataapi.mutate.bounds import Budget, bounded, guarded, precount, refuse_if_over
from dataapi.mutate.interfaces import RowHook, WriteAuthorizer
from dataapi.mutate.linking import Linker, no_match, only_plain_links, plain_links
from dataapi.mutate.matching import matching_ids
from dataapi.mutate.values import Create, Link, RowValues, Through, Unlink
from dataapi.query.validate import BoolOp
from dataapi.registry import ModelInfo, RelationshipInfo


@dataclass(frozen=True, slots=True)
class NewRows:
    """The rows one member of a create batch makes; `mergeable`: the member reads nothing back, so
    it may be written together with its neighbours."""

    model: ModelInfo
    rows: list[RowValues]
    mergeable: bool


@dataclass(frozen=True, slots=True)
class Parent:
    """A created child's many-to-one key and the parent row it points at."""

    key: str
    obj: Any


class Writer:
    def __init__(
        self,
        session: Session,
        budget: Budget,
        actor: str,
        auth: WriteAuthorizer | None = None,
        hooks: dict[str, RowHook] | None = None,
        *,
        missing_ok: bool = False,
    ) -> None:
        self.session = session
        self.budget = budget
        self.actor = actor  # stamped on caller-stamped columns of created rows
        self.auth = auth
        self.hooks = hooks or {}
        self.missing_ok = missing_ok  # scheduled runs: nothing matched is a run of 0 rows, not an error
        self.links = Linker(session, budget, auth, self)

    def _stamped(self, row: RowValues) -> dict[str, Any]:
        columns = dict(row.columns)
        for col in row.model.columns.values():
            if col.caller_stamped:
                columns[col.key] = self.actor
        return columns

    # ---- create ---------------------------------------------------------------------------

    def create_members(self, members: list[NewRows]) -> list[list[Any]]:
        """Create the rows of each batch member, in order; their ids.

        Consecutive mergeable members of one model without hooks, whose rows carry only plain
        links (dataapi.mutate.linking.Linker.prefetch), are written together: one lookup per
        link target model and one multi-row INSERT per table for all of them.
        """
        out: list[list[Any]] = []
        i = 0
        while i < len(members):
            model, rows = members[i].model, members[i].rows
            j = i + 1
            if members[i].mergeable and self._mergeable(model, rows):
                while j < len(members) and members[j].model is model and members[j].mergeable:
                    if not self._mergeable(model, members[j].rows):
                        break
                    j += 1
            if j == i + 1:
                out.append(self.create(model, rows))
            else:
                group = [m.rows for m in members[i:j]]
                for part in group:
                    self.budget.spend(len(part), part[0].at)
                ids = self._insert(model, [r for part in group for r in part])
                for part in group:
                    out.append(ids[: len(part)])
                    ids = ids[len(part) :]
            i = j
        return out

    def _mergeable(self, model: ModelInfo, rows: list[RowValues]) -> bool:
        return model.name not in self.hooks and all(only_plain_links(r) for r in rows)

    def create(self, model: ModelInfo, rows: list[RowValues]) -> list[Any]:
        """Insert rows, returning their ids in order. Rows without actions go in one multi-row INSERT."""
        self.budget.spend(len(rows), rows[0].at)
        return self._insert(model, rows)

    def _insert(self, model: ModelInfo, rows: list[RowValues]) -> list[Any]:
        if model.name not in self.hooks and all(not r.actions for r in rows):
            self.session.flush()
            return self._insert_plain(model, [self._stamped(r) for r in rows])
        if model.name not in self.hooks and all(self._keys_only(r) for r in rows):
            return self._insert_linked(model, rows)
        self.links.prefetch(rows)
        objects = [self.new(r) for r in rows]
        self.session.flush()
        return [getattr(o, model.pk.key) for o in objects]

    def _insert_plain(
        self, model: ModelInfo, values: list[dict[str, Any]], *, kept: bool = False
    ) -> list[Any]:
        """Rows of column values in multi-row INSERTs; their ids, in order. Rows that all set the
        same columns, each named as its table column, go through Core (no ORM bulk persistence);
        others through the ORM's bulk INSERT, which batches them by key set. `kept`: rows the ORM's
        unit of work would have written, whose INSERT also returned the columns the server keeps."""
        keys = values[0].keys()
        columns = model.table.c
        same = all(v.keys() == keys for v in values)
        if keys and same and all(model.mapper.c[k] is columns.get(k) for k in keys):
            # `kept`: the columns the server keeps on insert and update (a row version) too.
            also = [c for c in columns if c.server_default is not None and c.server_onupdate is not None]
            back = (columns[model.pk.key], *(also if kept else ()))
            stmt = insert(model.table).returning(*back, sort_by_parameter_order=True)
            return [row[0] for row in self.session.execute(stmt, values)]
        stmt = insert(model.cls).returning(getattr(model.cls, model.pk.key), sort_by_parameter_order=True)
        return list(self.session.scalars(stmt, values))

    # ---- created rows whose actions are plain links, set-based ---------------------------------

    def _keys_only(self, row: RowValues) -> bool:
        """Every action a plain link (dataapi.mutate.linking.only_plain_links) that sets keys only:
        a many-to-one (the row's own key) or a many-to-many from the row's primary key (link rows)."""
        if not only_plain_links(row):
            return False
        for action in row.actions:
            rel = action.rel
            if rel.prop.direction is MANYTOONE:
                continue
            parent_pk = rel.parent.table.c[rel.parent.pk.key]
            if rel.secondary is None or not rel.uselist or any(p is not parent_pk for p, _ in rel.pairs):
                return False
        return True

    def _insert_linked(self, model: ModelInfo, rows: list[RowValues]) -> list[Any]:
        """New rows whose actions are plain links, without the ORM's unit of work: one lookup per
        link target model (keys only), one multi-row INSERT of the rows (many-to-one keys set), one
        multi-row INSERT per link table.

        Same checks, errors and order as row by row (Writer.new, Linker.link): per row, per link
        in order, over the budget, then nothing matched, then the rows spent and the relationship
        guard; all before the first INSERT."""
        self.session.flush()  # what the request wrote before: the lookups must see it
        links = [a for r in rows for a in r.actions if isinstance(a, Link)]
        found = self.links.lookup_grouped(links, keys_only=True)
        values: list[dict[str, Any]] = []
        pairs: list[tuple[int, Link, list[Any]]] = []
        for i, row in enumerate(rows):
            columns = self._stamped(row)
            new_row = SimpleNamespace(**{model.pk.key: None})  # not inserted yet, as in Writer.new
            for action in plain_links(row):
                related = self.links.settle(action, found[id(action)])
                if self.auth is not None:
                    self.auth.relationship(action.rel, new_row, related, action.at)
                if action.rel.secondary is not None:
                    pairs.append((i, action, related))
                    continue
                target = action.rel.target
                for local, remote in action.rel.pairs:
                    key = model.mapper.get_property_by_column(local).key
                    columns[key] = getattr(related[0], target.mapper.get_property_by_column(remote).key)
            values.append(columns)
        ids = self._insert_plain(model, values, kept=True)
        tables: dict[str, tuple[Any, list[dict[str, Any]]]] = {}
        for i, action, related in pairs:
            rel, target = action.rel, action.rel.target
            batch = tables.setdefault(rel.secondary.name, (rel.secondary, []))[1]  # type: ignore[union-attr]
            for r in related:
                link_row = {secondary.key: ids[i] for _, secondary in rel.pairs}
                for column, secondary in rel.secondary_pairs:
                    link_row[secondary.key] = getattr(r, target.mapper.get_property_by_column(column).key)
                batch.append(link_row)
        for table, link_rows in tables.values():
            self.session.execute(table.insert(), link_rows)  # a LinkTable's: ON CONFLICT DO NOTHING
        return ids

    def new(self, row: RowValues, parent: Parent | None = None) -> Any:
        """A row of row.model, attached to `parent` if given."""
        self.links.prefetch(
            [row]
        )  # before the row is pending: a lookup's autoflush must not insert it half-made
        obj = row.model.cls(**self._stamped(row))
        if parent is not None:
            setattr(obj, parent.key, parent.obj)  # appended through the child's key: no collection load
        self.session.add(obj)
        self.apply_actions(obj, row)
        hook = self.hooks.get(row.model.name)
        if hook is not None:
            self.session.flush()  # database work first: constraint errors surface before any side effect
            hook.created(obj, row)
        return obj

    # ---- update ---------------------------------------------------------------------------

    def update(
        self, model: ModelInfo, values: RowValues, filters: BoolOp | None, *, first: bool, at: str
    ) -> list[Any]:
        ids_query = matching_ids(model, filters, first=first)
        self.session.flush()
        if not values.actions and model.name not in self.hooks:
            if values.columns:
                ids = self._update_guarded(model, values.columns, ids_query, first=first, at=at)
                self.session.expire_all()
            else:
                ids = list(self.session.scalars(bounded(ids_query, self.budget, first=first)))
            self._found(model, ids, at)
            return ids
        if model.name not in self.hooks and all(self._set_based(a) for a in values.actions):
            return self._update_set_based(model, values, ids_query, first=first, at=at)
        if not first:
            precount(self.session, ids_query, self.budget, at)
        objects = self._load_locked(model, ids_query)  # a concurrent delete makes it a 404, not a 500
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

    def _update_guarded(
        self, model: ModelInfo, columns: dict[str, Any], ids_query: Any, *, first: bool, at: str
    ) -> list[Any]:
        """One UPDATE of the matched rows' columns, which changes nothing when more rows match
        than the budget has left (dataapi.mutate.bounds.guarded); their ids, id DESC."""
        pk = model.table.c[model.pk.key]
        ids_in, fits = guarded(ids_query, self.budget, first=first)
        stmt = update(model.table).where(pk.in_(ids_in), *fits).values(columns).returning(pk)
        ids = sorted(self.session.scalars(stmt), reverse=True)  # the default order, id DESC
        if not ids:
            refuse_if_over(self.session, ids_query, self.budget, at, first=first)
        return ids

    def _update_set_based(
        self, model: ModelInfo, values: RowValues, ids_query: Any, *, first: bool, at: str
    ) -> list[Any]:
        """One UPDATE (columns and many-to-one keys) and one INSERT per child table.

        Same checks, errors and order as row by row: the update's own 404 before a link's,
        the budget spent per row in action order, the relationship guard per row."""
        links = [a for a in values.actions if isinstance(a, Link)]
        found = self.links.lookup_grouped(links, keys_only=True)
        keys: dict[str, Any] = {}
        for action in links:
            rows = found[id(action)]
            if not rows:
                self._found(
                    model, list(self.session.scalars(bounded(ids_query, self.budget, first=first))), at
                )
                raise no_match(action)
            target = action.rel.target
            for local, remote in action.rel.pairs:
                keys[local.key] = getattr(rows[0], target.mapper.get_property_by_column(remote).key)
        if values.columns or keys:
            ids = self._update_guarded(model, {**values.columns, **keys}, ids_query, first=first, at=at)
        else:
            ids = list(self.session.scalars(bounded(ids_query, self.budget, first=first)))
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
            self.session.execute(insert(target.table), rows)  # Core: no ORM bulk persistence
        self.session.expire_all()
        return ids

    def any_match(self, model: ModelInfo, filters: BoolOp | None) -> bool:
        return self.session.scalars(matching_ids(model, filters, first=True)).first() is not None

    def apply(self, obj: Any, values: RowValues) -> None:
        self.links.prefetch([values])  # before the columns change: one UPDATE for columns and links
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
        self, model: ModelInfo, filters: BoolOp | None, *, first: bool, also_do: RowValues | None, at: str
    ) -> list[Any]:
        ids_query = matching_ids(model, filters, first=first)
        pk = model.table.c[model.pk.key]
        hook = self.hooks.get(model.name)
        if also_do is not None or hook is not None:
            if not first:
                precount(self.session, ids_query, self.budget, at)
            objects = self._load_locked(model, ids_query)
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
            ids_in, fits = guarded(ids_query, self.budget, first=first)
            ids = list(self.session.scalars(delete(model.table).where(pk.in_(ids_in), *fits).returning(pk)))
            if not ids:
                refuse_if_over(self.session, ids_query, self.budget, at, first=first)
            self._found(model, ids, at)
        # Rows deleted set-based (and their cascades) must not linger in the identity map.
        self.session.expire_all()
        return ids

    def _load_locked(self, model: ModelInfo, ids_query: Any) -> list[Any]:
        """The rows a delete loads (to apply also_do, or for a hook), locked FOR UPDATE, in id
        order (the default, highest first), their attributes read afresh.

        Loaded unlocked, a row another request deletes meanwhile would still be written to (the
        also_do UPDATE waits for that request, then matches nothing: StaleDataError). Locked, this
        request waits at the load instead; READ COMMITTED then skips a locked row that was
        deleted, so it is not matched (404), as a plain DELETE answers."""
        mapped_pk = getattr(model.cls, model.pk.key)
        return list(
            self.session.scalars(
                select(model.cls)
                .where(mapped_pk.in_(ids_query))
                .order_by(mapped_pk.desc())
                .with_for_update(of=model.table)
                .execution_options(populate_existing=True)
            )
        )

    def _found(self, model: ModelInfo, ids: list[Any], at: str) -> None:
        if not ids and not self.missing_ok:
            raise NotFound(f"No {model.name} matched the filters.", at=at, detail=f"model={model.name}")
        self.budget.spend(len(ids), at)

    # ---- relationship actions -------------------------------------------------------------

    def apply_actions(self, obj: Any, row: RowValues) -> None:
        for action in row.actions:
            if isinstance(action, Link):
                self.links.link(obj, action)
            elif isinstance(action, Unlink):
                self.links.unlink(obj, action)
            elif isinstance(action, Create):
                self._create(obj, action)
            else:
                self._through(obj, action)

    def _create(self, obj: Any, action: Create) -> None:
        self.budget.spend(len(action.rows), action.at)
        through_key = _many_to_one(action.rel) if action.rel.uselist and action.append else None
        parent = Parent(through_key, obj) if through_key is not None else None
        self.links.prefetch(action.rows)
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
        related = self.links.related(obj, action.rel, action.at)
        self.budget.spend(len(related), action.at)
        for r in related:
            if self.auth is not None:
                self.auth.row(action.rel.target, "update", r, action.at)
            self.apply(r, action.values)


def _many_to_one(rel: RelationshipInfo) -> str | None:
    """The child's key back to the parent of a one-to-many (`item` of `Item.item_history`), if any."""
    back = rel.prop.back_populates
    if rel.secondary is not None or not back:
        return None
    reverse = rel.target.relationships.get(back)
    return back if reverse is not None and not reverse.uselist else None
