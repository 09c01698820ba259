"""Access policy as data (policy.json beside this file), validated once per container.

A principal (a role, or the `scheduler`) maps models to operations; each grant names the fields it
covers (relationships count as fields), the fields that may be filtered on, and an optional row
rule ("own": only the caller's own rows). A role may instead take the grants of another one
(`{"as": "Buyer"}`), for roles an existing database already holds. Deny by default: what no grant of
the caller covers is refused with 403 naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dataapi.operation import Operation
from dataapi.recent import Recent
from dataapi.registry import Registry

ALL = "*"
SCHEDULER = "scheduler"
"""The principal scheduled runs act as. Not a role: no user holds it, and no role takes its grants."""


class GrantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[str] | Literal["*"] = "*"
    filter: list[str] | Literal["*"] | None = None  # defaults to `fields`
    rows: Literal["own"] | None = None


class FilesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presign: list[str] = Field(default_factory=list)
    delete: list[str] = Field(default_factory=list)


class PrincipalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    as_: str | None = Field(None, alias="as")
    """Take the grants of this principal instead of stating any (no models or files then)."""
    models: dict[str, dict[Operation, GrantSpec | Literal["*"]]] = Field(default_factory=dict)
    files: FilesSpec = Field(default_factory=FilesSpec)


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = ""
    caller_model: str
    own_rows: dict[str, str] = Field(default_factory=dict)
    default_roles: list[str] = Field(default_factory=list)
    self_grant_forbidden: list[str] = Field(default_factory=list)
    own_account: dict[str, GrantSpec] = Field(default_factory=dict)
    """What anyone may read of their own account (POST /api), beside their role's grants: model -> grant."""
    principals: dict[str, PrincipalSpec]

    @model_validator(mode="after")
    def _consistent(self) -> PolicySpec:
        for role in self.default_roles:
            if role not in self.principals:
                raise ValueError(f"default role {role!r} has no grants")
        for name, principal in self.principals.items():
            _check_alias(name, principal, self.principals)
            for model, ops in principal.models.items():
                for op, grant in ops.items():
                    if isinstance(grant, GrantSpec) and grant.rows == "own" and model not in self.own_rows:
                        raise ValueError(f"{name}.{model}.{op}: rows 'own' needs own_rows[{model!r}]")
        return self


def _check_alias(name: str, principal: PrincipalSpec, principals: dict[str, PrincipalSpec]) -> None:
    if principal.as_ is None:
        return
    target = principals.get(principal.as_)
    if principal.models or principal.files.presign or principal.files.delete:
        raise ValueError(
            f"principal {name!r} takes the grants of {principal.as_!r}: it states none of its own"
        )
    if target is None or principal.as_ == SCHEDULER:
        raise ValueError(f"principal {name!r} takes the grants of {principal.as_!r}, which is not a role")
    if target.as_ is not None:
        raise ValueError(f"principal {name!r} takes the grants of {principal.as_!r}, which takes another's")


@dataclass(frozen=True, slots=True)
class Grant:
    """One operation on one model, merged over the caller's principals."""

    fields: frozenset[str] | None  # None: every field
    filter: frozenset[str] | None
    own_rows: bool

    def covers(self, name: str) -> bool:
        return self.fields is None or name in self.fields

    def filters(self, name: str) -> bool:
        return self.filter is None or name in self.filter


def _names(value: list[str] | Literal["*"] | None) -> frozenset[str] | None:
    return None if value is None or value == ALL else frozenset(value)


def _of(spec: GrantSpec) -> Grant:
    fields = _names(spec.fields)
    return Grant(fields, fields if spec.filter is None else _names(spec.filter), spec.rows == "own")


GRANTS_KEPT = 4096
"""Answers of Policy.grant kept per process (by principals, model and operation), the ones used last."""


class Policy:
    def __init__(self, spec: PolicySpec) -> None:
        self.spec = spec
        self._effective = {
            name: spec.principals[p.as_] if p.as_ else p for name, p in spec.principals.items()
        }
        self._grants: Recent[tuple[tuple[str, ...], str, Operation], tuple[Grant | None]] = Recent(
            GRANTS_KEPT
        )

    def roles(self) -> frozenset[str]:
        """Role names with grants (their own or another role's)."""
        return frozenset(name for name in self.spec.principals if name != SCHEDULER)

    def grant(self, principals: tuple[str, ...], model: str, op: Operation) -> Grant | None:
        """The union of the principals' grants. The policy never changes in a process, so each
        answer is kept: a read asks for a few grants per model it touches, every time."""
        key = (principals, model, op)
        kept = self._grants.get(key)
        if kept is None:  # kept answers are 1-tuples: "no grant" (None) is an answer too
            kept = (self._grant(principals, model, op),)
            self._grants.put(key, kept)
        return kept[0]

    def _grant(self, principals: tuple[str, ...], model: str, op: Operation) -> Grant | None:
        found: list[Grant] = []
        for name in principals:
            spec = self._effective.get(name)
            if spec is None:
                continue
            ops = spec.models.get(model) or spec.models.get(ALL)
            raw = ops.get(op) if ops else None
            if raw is None:
                continue
            found.append(_of(raw if isinstance(raw, GrantSpec) else GrantSpec()))
        if not found:
            return None
        return Grant(
            _union(g.fields for g in found),
            _union(g.filter for g in found),
            all(g.own_rows for g in found),  # any grant without the rule lifts it
        )

    def own_account_grant(self, principals: tuple[str, ...], model: str) -> Grant | None:
        """What the principals may read of `model` on their own account: their `get` grant and the
        policy's own-account grant together."""
        own = self.spec.own_account.get(model)
        found = [
            g for g in (self.grant(principals, model, "get"), _of(own) if own else None) if g is not None
        ]
        if not found:
            return None
        return Grant(_union(g.fields for g in found), _union(g.filter for g in found), False)

    def check(self, registry: Registry) -> None:
        """Every model and field the policy names exists (relationships and write-only names count)."""
        for name, principal in self.spec.principals.items():
            for model_name, ops in principal.models.items():
                if model_name == ALL:
                    continue
                model = registry.model(model_name, f"policy {name}")
                known = set(model.columns) | set(model.relationships) | model.write_only
                for op, grant in ops.items():
                    if isinstance(grant, GrantSpec):
                        for listed in (grant.fields, grant.filter):
                            unknown = set() if listed in (None, ALL) else set(listed) - known  # type: ignore[arg-type]
                            if unknown:
                                raise ValueError(
                                    f"policy {name}.{model_name}.{op} names unknown fields {sorted(unknown)}"
                                )
        for name, principal in self.spec.principals.items():
            for entry in principal.files.presign + principal.files.delete:
                _file_grant(entry, registry, f"policy {name}.files")
        for model_name, grant in self.spec.own_account.items():
            model = registry.model(model_name, "policy own_account")
            known = set(model.columns) | set(model.relationships)
            for listed in (grant.fields, grant.filter):
                unknown = set() if listed in (None, ALL) else set(listed) - known  # type: ignore[arg-type]
                if unknown:
                    raise ValueError(
                        f"policy own_account.{model_name} names unknown fields {sorted(unknown)}"
                    )
        for model_name, column in self.spec.own_rows.items():
            if column not in registry.model(model_name, "policy own_rows").columns:
                raise ValueError(f"policy own_rows[{model_name!r}] is not a column")

    def file_prefixes(
        self, principals: tuple[str, ...], action: Literal["presign", "delete"], registry: Registry
    ) -> list[str]:
        """Granted prefixes: '*', prefixes as listed, and the prefixes of the file fields named."""
        prefixes: list[str] = []
        for name in principals:
            spec = self._effective.get(name)
            if spec is not None:
                for entry in getattr(spec.files, action):
                    prefixes += _file_grant(entry, registry, f"policy {name}.files")
        return prefixes


def _file_grant(entry: str, registry: Registry, at: str) -> list[str]:
    if entry == ALL or entry.endswith("/"):
        return [entry]
    model_name, _, field = entry.partition(".")
    column = registry.model(model_name, at).columns.get(field)
    if column is None or column.file is None:
        raise ValueError(f"{at} names {entry!r}, which is neither a file field nor a prefix ending in '/'")
    return list(column.file.prefixes)


def _union(sets: object) -> frozenset[str] | None:
    merged: set[str] = set()
    for s in sets:  # type: ignore[attr-defined]
        if s is None:
            return None
        merged |= s
    return frozenset(merged)


def load_policy(path: Path) -> Policy:
    return Policy(PolicySpec.model_validate(json.loads(path.read_text())))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    return load_policy(Path(__file__).with_name("policy.json"))
