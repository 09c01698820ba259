"""The operations as handlers call them: validated first, then, in the request's one transaction,
the caller loaded, the policy enforced, and the engine run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from dataapi import reads, writes
from dataapi.authorize import for_caller
from dataapi.db import commit_with_next, transaction
from dataapi.policy import default_policy
from dataapi.query.validate import resolve_path
from dataapi.reads import Result
from dataapi.registry import Registry, default_registry
from dataapi.settings import Settings, get_settings
from dataapi.users import CognitoUsers, with_directory

Claims = dict[str, str]

default_policy().check(default_registry())  # a policy naming unknown models or fields fails the cold start


def get_items(raw: Any, claims: Claims) -> Result:
    settings = get_settings()
    valid = reads.validate(raw, default_registry(), settings, datetime.now(UTC))
    with transaction() as session:
        auth = for_caller(session, claims)
        auth.read(valid.fields, "/requested_data")
        auth.filters(valid.filters, valid.model)
        for i, spec in enumerate(valid.request.order_by or []):
            at = f"/order_by/{i}"
            auth.path(valid.model, resolve_path(valid.model, spec.removeprefix("-"), at), at)
        filters = auth.restrict(valid.model, "get", valid.filters)
        prepared = reads.compile_read(valid, filters)
        if prepared.plan.count is None:  # the page is the last statement
            commit_with_next(session)
        return reads.run(session, prepared, settings)


Plan = Callable[[Any, Registry, Settings], writes.Work]


def create_items(raw: Any, claims: Claims) -> Result:
    return _write(writes.plan_create, raw, claims)


def update_items(raw: Any, claims: Claims) -> Result:
    return _write(writes.plan_update, raw, claims)


def delete_items(raw: Any, claims: Claims) -> Result:
    return _write(writes.plan_delete, raw, claims)


def _write(plan: Plan, raw: Any, claims: Claims) -> Result:
    work = plan(raw, default_registry(), get_settings())

    def as_caller(session: Session, users: CognitoUsers) -> Result:
        auth = for_caller(session, claims)
        return work(session, auth.caller.username, auth, {"User": users})

    return with_directory(as_caller, default_policy().spec.default_roles)
