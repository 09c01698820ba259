"""create_items, update_items, delete_items (docs/contract.md §4): one request or a batch, one transaction.

`plan_create`, `plan_update` and `plan_delete` check everything that needs no database and answer a
plan; its `run` takes the request's session, the actor stamped on audit columns, the caller's
Authorizer (None for trusted callers) and the per-row hooks by model name (User rows mirror
Cognito users).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from dataapi.errors import MalformedRequest, NotFound
from dataapi.mutate.apply import NewRows, Writer
from dataapi.mutate.bounds import Budget, check_actions, check_new_rows
from dataapi.mutate.interfaces import RowHook
from dataapi.mutate.requests import (
    CreateRequest,
    DeleteRequest,
    IfMatch,
    UpdateRequest,
    parse_batch,
    raw_members,
)
from dataapi.mutate.values import Context, Limits, RowValues, validate_rows, validate_values
from dataapi.mutate.versions import LockedRow, expect_version
from dataapi.query.parse import parse_filters, parse_requested
from dataapi.query.serialize import guard_size
from dataapi.query.validate import BoolOp, Fields, check_fields, validate_fields, validate_filters
from dataapi.reads import read_back
from dataapi.registry import ModelInfo, Registry
from dataapi.result import Result
from dataapi.settings import Settings
from dataapi.storage.files import Files
from dataapi.telemetry import count

if TYPE_CHECKING:
    from dataapi.identity.authorize import Authorizer

Hooks = dict[str, RowHook]


@dataclass(frozen=True, slots=True)
class CreateMember:
    """One member of a create batch, validated."""

    reference: str
    base: str  # pointer prefix of the member: "" alone, "/2" in a batch
    model: ModelInfo
    rows: list[RowValues]
    fields: Fields | None


@dataclass(frozen=True, slots=True)
class UpdateMember:
    reference: str
    base: str
    model: ModelInfo
    values: RowValues
    filters: BoolOp | None  # as asked; the caller's row rule is added when the plan runs
    fields: Fields | None
    first: bool
    if_match: int | None = None  # the row_version the matched row must have (mutate.versions)


@dataclass(frozen=True, slots=True)
class DeleteMember:
    reference: str
    base: str
    model: ModelInfo
    filters: BoolOp | None
    also_do: RowValues | None
    first: bool
    if_match: int | None = None

    @property
    def at(self) -> str:
        """Pointer to the member's object_values."""
        return self.base + "/object_values"


@dataclass(frozen=True, slots=True)
class CreatePlan:
    members: list[CreateMember]
    batch: bool
    settings: Settings

    def run(self, session: Session, *, actor: str, auth: Authorizer | None, hooks: Hooks) -> Result:
        if auth is not None:
            for m in self.members:
                for row in m.rows:
                    auth.write("create", row)
                if m.fields is not None:
                    auth.read(m.fields, m.base + "/requested_data")
        writer = Writer(session, Budget(self.settings.max_rows_touched), actor, auth, hooks)
        # Members without requested_data may be written together (their bodies need no reading).
        created = writer.create_members([NewRows(m.model, m.rows, m.fields is None) for m in self.members])
        bodies = [
            read_back(session, m.model, m.fields, ids, self.settings) if m.fields else ["{}"] * len(ids)
            for m, ids in zip(self.members, created, strict=True)
        ]
        return _result(
            bodies, [m.reference for m in self.members], "created", writer, self.settings, batch=self.batch
        )


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    members: list[UpdateMember]
    batch: bool
    settings: Settings
    missing_ok: bool  # scheduled runs: nothing matched is a run of 0 rows, not an error

    def run(self, session: Session, *, actor: str, auth: Authorizer | None, hooks: Hooks) -> Result:
        allowed = [m.filters for m in self.members]
        if auth is not None:
            allowed = [auth.authorize_target(m.model, "update", m.filters, m.base) for m in self.members]
            for m in self.members:
                auth.write("update", m.values)
                if m.fields is not None:
                    auth.read(m.fields, m.base + "/requested_data")
        budget = Budget(self.settings.max_rows_touched)
        writer = Writer(session, budget, actor, auth, hooks, missing_ok=self.missing_ok)
        bodies = []
        for m, filters in zip(self.members, allowed, strict=True):
            at = m.base + "/query_filters"
            filters = _pinned(session, m.model, filters, m.if_match, m.base, m.fields, self.settings)
            with _explained(auth, writer, m.model, m.filters, filters, at):
                ids = writer.update(m.model, m.values, filters, first=m.first, at=at)
            bodies.append(read_back(session, m.model, m.fields, ids, self.settings) if m.fields else [])
        return _result(
            bodies, [m.reference for m in self.members], "updated", writer, self.settings, batch=self.batch
        )


@dataclass(frozen=True, slots=True)
class DeletePlan:
    members: list[DeleteMember]
    batch: bool
    settings: Settings

    def run(self, session: Session, *, actor: str, auth: Authorizer | None, hooks: Hooks) -> Result:
        allowed = [m.filters for m in self.members]
        if auth is not None:
            allowed = [auth.authorize_target(m.model, "delete", m.filters, m.base) for m in self.members]
            for m in self.members:
                if m.also_do is not None:
                    auth.write("update", m.also_do)
        writer = Writer(session, Budget(self.settings.max_rows_touched), actor, auth, hooks)
        if auth is not None:
            for m, filters in zip(self.members, allowed, strict=True):
                auth.check_not_own_account(m.model, filters, m.at + "/query_filters", writer.any_match)
        for m, filters in zip(self.members, allowed, strict=True):
            at = m.at + "/query_filters"
            filters = _pinned(session, m.model, filters, m.if_match, m.base, None, self.settings)
            with _explained(auth, writer, m.model, m.filters, filters, at):
                writer.delete(m.model, filters, first=m.first, also_do=m.also_do, at=at)
        references = [m.reference for m in self.members]
        return _result(
            [[] for _ in self.members], references, "deleted", writer, self.settings, batch=self.batch
        )


WritePlan = CreatePlan | UpdatePlan | DeletePlan


def plan_create(raw: Any, registry: Registry, settings: Settings) -> CreatePlan:
    _count_new_rows(raw, registry, settings, "create")
    batch = parse_batch(CreateRequest, raw, settings.max_batch)
    ctx = _context(settings)
    members = []
    for member in batch.members:  # validate every member before the first statement
        req, base = member.request, member.base
        model = registry.model(req.model_name, base + "/model_name")
        rows = validate_rows(model, req.object_values, base + "/object_values", ctx, creating=True)
        fields = _fields(model, req.requested_data, base)
        members.append(CreateMember(req.reference or req.model_name, base, model, rows, fields))
    return CreatePlan(members, batch.is_batch, settings)


def plan_update(raw: Any, registry: Registry, settings: Settings, *, missing_ok: bool = False) -> UpdatePlan:
    _count_new_rows(raw, registry, settings, "update")
    batch = parse_batch(UpdateRequest, raw, settings.max_batch)
    ctx = _context(settings)
    members = []
    for member in batch.members:
        req, base = member.request, member.base
        model = registry.model(req.model_name, base + "/model_name")
        values = validate_values(model, req.object_values, base + "/object_values", ctx, creating=False)
        filters = _target_filters(model, req.query_filters, req.allow_all, base + "/query_filters", ctx)
        fields = _fields(model, req.requested_data, base)
        reference = req.reference or req.model_name
        first = req.update_type == "first_match"
        if_match = _if_match(req.if_match, first=first, at=base + "/if_match", needs="first_match")
        members.append(UpdateMember(reference, base, model, values, filters, fields, first, if_match))
    return UpdatePlan(members, batch.is_batch, settings, missing_ok)


def plan_delete(raw: Any, registry: Registry, settings: Settings) -> DeletePlan:
    _count_new_rows(raw, registry, settings, "delete")
    batch = parse_batch(DeleteRequest, raw, settings.max_batch)
    ctx = _context(settings)
    members = []
    for member in batch.members:
        req, base = member.request, member.base
        model = registry.model(req.model_name, base + "/model_name")
        at = base + "/object_values"
        if req.deletion is None:
            raise MalformedRequest(
                "'deletion_type' is required (delete_first or delete_all).", at=at + "/deletion_type"
            )
        allow_all = req.allow_all or req.object_values.allow_all
        filters = _target_filters(
            model, req.object_values.query_filters, allow_all, at + "/query_filters", ctx
        )
        also = req.object_values.also_do
        also_do = validate_values(model, also, at + "/also_do", ctx, creating=False) if also else None
        first = req.deletion == "delete_first"
        if_match = _if_match(req.if_match, first=first, at=base + "/if_match", needs="delete_first")
        members.append(
            DeleteMember(req.reference or req.model_name, base, model, filters, also_do, first, if_match)
        )
    return DeletePlan(members, batch.is_batch, settings)


def _count_new_rows(raw: Any, registry: Registry, settings: Settings, kind: str) -> None:
    """Members, lists and new rows counted in the raw JSON before a member is parsed or a row
    validated (dataapi.mutate.bounds.check_new_rows): a refused body costs a walk over it, never
    the rows it would have built."""
    tally = Budget(settings.max_rows_touched)
    sizes = {"rows_per_list": settings.max_rows_per_list, "depth": settings.max_depth}
    for item, base in raw_members(raw, settings.max_batch):
        name = item.get("model_name") if isinstance(item, dict) else None
        model = registry.models.get(name) if isinstance(name, str) else None
        if model is None:
            continue  # malformed: the parser names it
        at = base + "/object_values"
        values = item.get("object_values")
        if kind == "create":
            check_new_rows(model, values, at, tally, **sizes)
        elif kind == "update":
            check_actions(model, values, at, tally, **sizes)
        elif isinstance(values, dict):
            check_actions(model, values.get("also_do"), at + "/also_do", tally, **sizes)


def _if_match(if_match: IfMatch | None, *, first: bool, at: str, needs: str) -> int | None:
    """The row_version an `if_match` expects; it names one row, so only a first-match write takes it."""
    if if_match is None:
        return None
    if not first:
        raise MalformedRequest(
            f"'if_match' names one row's version: it needs \"{needs}\".", at=at, detail="field=if_match"
        )
    return if_match.row_version


def _pinned(
    session: Session,
    model: ModelInfo,
    filters: BoolOp | None,
    if_match: int | None,
    base: str,
    fields: Fields | None,
    settings: Settings,
) -> BoolOp | None:
    """A member's filters, pinned to its locked row when it sent `if_match` (mutate.versions)."""
    if if_match is None:
        return filters
    current = partial(_current, session, model, fields, settings=settings)
    return expect_version(session, model, filters, if_match, at=base + "/if_match", current=current)


def _current(
    session: Session, model: ModelInfo, fields: Fields | None, row: LockedRow, settings: Settings
) -> str:
    """A RowChanged answer's body: the row's requested data as it is now, else its id and version."""
    if fields is not None:
        return "[" + ",".join(read_back(session, model, fields, [row.id], settings)) + "]"
    return json.dumps([{model.pk.key: row.id, "row_version": row.row_version}])


def _context(settings: Settings) -> Context:
    return Context(datetime.now(UTC), Limits.of(settings), Files(settings))


@contextmanager
def _explained(
    auth: Authorizer | None,
    writer: Writer,
    model: ModelInfo,
    asked: BoolOp | None,
    allowed: BoolOp | None,
    at: str,
) -> Iterator[None]:
    """A 404 the caller's row rule may explain (dataapi.identity.authorize.Authorizer.explain_not_found)."""
    try:
        yield
    except NotFound:
        if auth is not None:
            auth.explain_not_found(model, asked, allowed, at, writer.any_match)
        raise


def _target_filters(
    model: ModelInfo, raw: dict[str, Any], allow_all: bool, at: str, ctx: Context
) -> BoolOp | None:
    if not raw:
        if allow_all:
            return None
        raise MalformedRequest(
            "'query_filters' is empty: that would touch every row. Send filters, or \"allow_all\": true.",
            at=at,
            detail="field=query_filters",
        )
    return validate_filters(parse_filters(raw, at), model, ctx.now)


def _fields(model: ModelInfo, requested: list | None, base: str) -> Fields | None:
    if not requested:
        return None
    fields = validate_fields(model, parse_requested(requested, base + "/requested_data"))
    check_fields(fields)
    return fields


def _result(
    bodies: list[list[str]],
    references: list[str],
    verb: str,
    writer: Writer,
    settings: Settings,
    *,
    batch: bool,
) -> Result:
    """The answer, within MAX_RESPONSE_BYTES (the request's transaction is rolled back when not)."""
    parts = ["[" + ",".join(rows) + "]" for rows in bodies]
    body = "[" + ",".join(parts) + "]" if batch else parts[0]
    advice = "ask for fewer fields with 'requested_data', or split the request"
    guard_size(body, settings.max_response_bytes, at="/requested_data" if not batch else "/", advice=advice)
    names = ", ".join(dict.fromkeys(references))
    count("RowsWritten", writer.budget.used)
    return Result(201, f"{names} {verb}!", body, rows=writer.budget.used)
