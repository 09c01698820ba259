"""The item routes as handlers call them: the request planned (validated) first, then, in the
request's one transaction, the caller loaded and the planned work run under the caller's policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from dataapi import reads, writes
from dataapi.db.engine import transaction
from dataapi.identity.authorize import for_caller
from dataapi.identity.directory import CognitoUsers, with_directory
from dataapi.identity.policy import default_policy
from dataapi.registry import Registry, default_registry
from dataapi.result import Result
from dataapi.settings import Settings, get_settings

Claims = dict[str, str]

default_policy().check(default_registry())  # a policy naming unknown models or fields fails the cold start


def get_items(raw: Any, claims: Claims) -> Result:
    work = reads.plan(raw, default_registry(), get_settings())
    with transaction() as session:
        return work(session, for_caller(session, claims), True)


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
