"""Enforce the policy on every part of a validated request: fields read, filtered and written,
relationship hops, nested actions and `also_do`, plus the row rules.

Runs after validation (so a name that is not a field was already a 400) and before any data
statement; what no grant covers is a 403 naming it, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.orm import Session

from dataapi.errors import PolicyRefusal, pointer
from dataapi.identity.caller import USERNAME, Caller, load_caller, require_role, reserved
from dataapi.identity.policy import ALL, Grant, Policy, default_policy
from dataapi.operation import Operation
from dataapi.query.validate import BoolOp, Fields, Filter, OrderPath, Path, Pred, RelationshipField
from dataapi.registry import ModelInfo, Registry, RelationshipInfo
from dataapi.storage.files import declared_prefixes, under

if TYPE_CHECKING:
    from dataapi.mutate.values import RowValues

RowsExist = Callable[[ModelInfo, BoolOp | None], bool]
"""Whether any row of the model matches the filters (the Writer answers it in the request's
transaction): rules about rows the caller cannot see ask it."""


def for_caller(session: Session, claims: dict[str, str]) -> Authorizer:
    """The caller behind the claims, who must hold a role (data and file routes)."""
    caller = load_caller(session, claims)
    require_role(caller)
    return Authorizer(default_policy(), caller)


_VERBS = {"get": "read", "create": "create", "update": "change", "delete": "delete"}


class Authorizer:
    def __init__(self, policy: Policy, caller: Caller) -> None:
        self.policy = policy
        self.caller = caller
        self._forbidden_rels = frozenset(policy.spec.self_grant_forbidden)

    # ---- grants ---------------------------------------------------------------------------

    def grant(self, model: ModelInfo, op: Operation, at: str) -> Grant:
        found = self.policy.grant(self.caller.principals, model.name, op)
        if found is None:
            raise PolicyRefusal(
                f"You may not {_VERBS[op]} {model.name} rows.",
                at=at or "/",
                detail=f"model={model.name} operation={op}",
            )
        return found

    def _field(self, model: ModelInfo, name: str, op: str, at: str, *, allowed: bool) -> None:
        if not allowed:
            raise PolicyRefusal(
                f"You may not {op} '{name}' of {model.name}.",
                at=at or "/",
                detail=f"field={name} operation={op}",
            )

    # ---- reads ----------------------------------------------------------------------------

    def authorize_read(
        self, model: ModelInfo, fields: Fields, filters: BoolOp, order: tuple[OrderPath, ...]
    ) -> BoolOp | None:
        """Everything a read touches (fields, filter paths, order paths), then the row rule added."""
        self.read(fields, "/requested_data")
        self.filters(filters, model)
        for entry in order:
            self.path(model, entry.path, entry.at)
        return self.restrict(model, "get", filters)

    def read(self, fields: Fields, at: str) -> None:
        self._read(fields, at, lambda model, where: self.grant(model, "get", where))

    def read_own(self, fields: Fields, at: str) -> None:
        """Requested fields of the caller's own account: what the policy's `own_account` grants
        anyone, and what the caller's grants let it read."""

        def grant(model: ModelInfo, where: str) -> Grant:
            found = self.policy.own_account_grant(self.caller.principals, model.name)
            if found is None:
                return self.grant(model, "get", where)  # raises: nothing of it may be read
            return found

        self._read(fields, at, grant)

    def _read(self, fields: Fields, at: str, grant_of: Callable[[ModelInfo, str], Grant]) -> None:
        grant = grant_of(fields.model, at)
        for entry in fields.entries:
            self._field(fields.model, entry.name, "read", entry.at, allowed=grant.covers(entry.name))
            if isinstance(entry, RelationshipField):
                self._read(entry.fields, entry.at, grant_of)

    def filters(self, node: Filter | None, model: ModelInfo, op: Operation = "get") -> None:
        """Filter paths: on `model` as its `op` grant allows (an update filters what it updates),
        through relationships as the related models' `get` grants allow."""
        if node is None:
            return
        if isinstance(node, BoolOp):
            for child in node.children:
                self.filters(child, model, op)
            return
        self.path(model, node.path, node.at, op)

    def path(self, model: ModelInfo, path: Path, at: str, op: Operation = "get") -> None:
        current, current_op = model, op
        for hop in path.hops:
            self._field(
                current, hop.key, "filter on", at, allowed=self._filterable(current, current_op, hop.key, at)
            )
            current, current_op = hop.target, "get"
        if path.column is not None:
            allowed = self._filterable(current, current_op, path.column.key, at)
            self._field(current, path.column.key, "filter on", at, allowed=allowed)
        elif path.hops:  # a bare relationship test (is_null / not_null) reads whether rows exist
            self.grant(current, "get", at)

    def _filterable(self, model: ModelInfo, op: Operation, name: str, at: str) -> bool:
        """What a read may filter on; a write may also filter on what it may write."""
        readable = self.policy.grant(self.caller.principals, model.name, "get")
        if readable is not None and readable.filters(name):
            return True
        return op != "get" and self.grant(model, op, at).filters(name)

    def restrict(self, model: ModelInfo, op: Operation, filters: BoolOp | None) -> BoolOp | None:
        """Add the row rule ("own rows only") of the caller's grant to a top-level filter."""
        rule = self.row_rule(model, op)
        if rule is None:
            return filters
        return BoolOp("and", (rule,) if filters is None else (filters, rule))

    def row_rule(self, model: ModelInfo, op: Operation) -> Pred | None:
        if not self.grant(model, op, "").own_rows:
            return None
        column = model.columns[self.policy.spec.own_rows[model.name]]
        return Pred(Path((), column, (), model), "==", self.caller.user_id, "")

    # ---- writes ---------------------------------------------------------------------------

    def authorize_target(
        self, model: ModelInfo, op: Operation, filters: BoolOp | None, at: str
    ) -> BoolOp | None:
        """The rows an update or delete targets: the operation and every filter path checked
        against the grants, then the row rule added."""
        self.grant(model, op, at)
        self.filters(filters, model, op)
        return self.restrict(model, op, filters)

    def explain_not_found(
        self, model: ModelInfo, asked: BoolOp | None, allowed: BoolOp | None, at: str, exist: RowsExist
    ) -> None:
        """Nothing matched `allowed`: when the row rule hid every match of `asked`, the caller is
        told that rows exist but are not theirs (403), not that none exist (404)."""
        if allowed is not asked and exist(model, asked):
            raise PolicyRefusal(f"You may only change your own {model.name} rows.", at=at, detail="rows=own")

    def check_not_own_account(
        self, model: ModelInfo, filters: BoolOp | None, at: str, exist: RowsExist
    ) -> None:
        """Nobody deletes their own account or a role it holds: that changes roles on their account."""
        own = self.own_account(model)
        if own is None:
            return
        if exist(model, BoolOp("and", (own,) if filters is None else (filters, own))):
            raise PolicyRefusal(
                f"You may not delete your own account or a role it holds ({model.name}).",
                at=at,
                detail=f"model={model.name} self-grant",
            )

    def write(self, op: Operation, row: RowValues) -> None:
        # Imported here: get_items's cold start does without the write grammar.
        from dataapi.mutate.values import Create, Link, Through, Unlink

        grant = self.grant(row.model, op, row.at)
        for name in [*row.columns, *row.write_only]:
            if not grant.covers(name):  # the pointer built only for a refusal (this runs per row)
                self._field(row.model, name, "write", row.at + pointer(name), allowed=False)
        self._username(row)
        for action in row.actions:
            self._field(row.model, action.rel.key, "write", action.at, allowed=grant.covers(action.rel.key))
            target = action.rel.target
            if isinstance(action, Link):
                self.filters(action.filters, target)
                if action.rel.uselist and action.rel.secondary is None:
                    self.grant(target, "update", action.at)  # one-to-many: the key lives on the linked rows
                if action.also_do is not None:
                    self.write("update", action.also_do)
                if action.create_if_none is not None:
                    self.write("create", action.create_if_none)
            elif isinstance(action, Unlink):
                self.filters(action.filters, target)
                self._detach(action.rel, action.at)
            elif isinstance(action, Create):
                for created in action.rows:
                    self.write("create", created)
                if not action.append:
                    self._detach(action.rel, action.at)
            elif isinstance(action, Through):
                self.write("update", action.values)

    def own_account(self, model: ModelInfo) -> Filter | None:
        """Rows of `model` that are the caller's account or a role it holds (through a relationship
        listed in the policy): deleting them would change the caller's own roles. None if none can be."""
        mine = self.policy.spec.caller_model
        if self.caller.user_id is None:
            return None
        if model.name == mine:
            return Pred(Path((), model.pk, (), model), "==", self.caller.user_id, "")
        for rel in model.relationships.values():
            if rel.target.name == mine and f"{model.name}.{rel.key}" in self._forbidden_rels:
                target = rel.target
                return Pred(Path((rel,), target.pk, (), target), "==", self.caller.user_id, "")
        return None

    # ---- files --------------------------------------------------------------------------------

    def file_prefixes(self, action: Literal["presign", "delete"], registry: Registry) -> tuple[str, ...]:
        """The prefixes under which the caller may upload (presign) or delete files: its grants,
        within the prefixes the models declare."""
        granted = self.policy.file_prefixes(self.caller.principals, action, registry)
        declared = declared_prefixes(registry)
        return declared if ALL in granted else tuple(p for p in granted if under(p, declared))

    def may_change_files_of(self, model: ModelInfo, field: str, owners: Sequence[Any]) -> bool:
        """A file that rows reference may be deleted only by someone who may update that field of
        every one of them."""
        grant = self.policy.grant(self.caller.principals, model.name, "update")
        if grant is None or not grant.covers(field):
            return False
        rule = self.row_rule(model, "update")
        if rule is None:
            return True
        assert rule.path.column is not None  # a row rule compares a column of the row itself
        return all(getattr(o, rule.path.column.key) == self.caller.user_id for o in owners)

    def _username(self, row: RowValues) -> None:
        """Principal names (the scheduler's) are reserved: no user row may be named after one."""
        if row.model.name == self.policy.spec.caller_model and reserved(row.columns.get(USERNAME)):
            raise PolicyRefusal(
                f"The username '{row.columns[USERNAME]}' is reserved.",
                at=row.at + pointer(USERNAME),
                detail=f"field={USERNAME} reserved",
            )

    def _detach(self, rel: RelationshipInfo, at: str) -> None:
        """Detaching related rows deletes them (delete-orphan) or changes them (their foreign key)."""
        if rel.prop.cascade.delete_orphan:
            self.grant(rel.target, "delete", at)
        elif rel.uselist and rel.secondary is None:
            self.grant(rel.target, "update", at)

    # ---- checks on loaded rows (the Writer calls these) -----------------------------------

    def row(self, model: ModelInfo, op: Operation, obj: Any, at: str) -> None:
        """A nested write on a loaded row must respect the row rule of its grant."""
        rule = self.row_rule(model, op)
        if rule is not None and getattr(obj, rule.path.column.key) != self.caller.user_id:  # type: ignore[union-attr]
            raise PolicyRefusal(
                f"You may only {_VERBS[op]} your own {model.name} row.", at=at or "/", detail="rows=own"
            )

    def relationship(self, rel: RelationshipInfo, parent: Any, related: list[Any], at: str) -> None:
        """No one grants themselves a role: relationships listed in the policy never touch the caller."""
        if f"{rel.parent.name}.{rel.key}" not in self._forbidden_rels or self.caller.user_id is None:
            return
        mine = self.policy.spec.caller_model
        pk = rel.parent.pk.key
        touches_me = (rel.parent.name == mine and getattr(parent, pk, None) == self.caller.user_id) or (
            rel.target.name == mine
            and any(getattr(r, rel.target.pk.key, None) == self.caller.user_id for r in related)
        )
        if touches_me:
            raise PolicyRefusal(
                f"You may not change '{rel.key}' of your own account.",
                at=at or "/",
                detail=f"field={rel.key} self-grant",
            )
