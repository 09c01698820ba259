"""The item routes as handlers call them: the request planned (validated) first, then, in the
request's one transaction, the caller loaded and the planned work run under the caller's policy.
A read runs as the caller the container remembers, when it still is that caller
(dataapi.identity.remembered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from dataapi import reads
from dataapi.db.engine import begin_value, read_transaction, transaction
from dataapi.errors import Forbidden, PolicyRefusal
from dataapi.identity.authorize import Authorizer, for_caller
from dataapi.identity.policy import default_policy
from dataapi.identity.remembered import CALLERS, GENERATION
from dataapi.registry import default_registry
from dataapi.result import Result
from dataapi.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dataapi.identity.directory import CognitoUsers

Claims = dict[str, str]

default_policy().check(default_registry())  # a policy naming unknown models or fields fails the cold start


def get_items(raw: Any, claims: Claims) -> Result:
    work = reads.plan(raw, default_registry(), get_settings())
    result = _as_remembered(work, claims)
    if result is not None:
        return result
    with transaction(also=GENERATION) as session:
        auth = for_caller(session, claims)
        CALLERS.remember(claims, auth.caller, begin_value(session))
        return work(session, auth, True)


def _as_remembered(work: reads.ReadWork, claims: Claims) -> Result | None:
    """The page read as the remembered caller; None when there is none, when the caller changed
    since (the page is dropped), or when it was refused: only a loaded caller is ever refused."""
    try:
        remembered = CALLERS.get(claims)
        if remembered is None:
            return None
        with read_transaction(also=GENERATION) as connection:
            result = work(connection, Authorizer(default_policy(), remembered.caller), True)
            if begin_value(connection) == remembered.generation:
                return result
    except (Forbidden, PolicyRefusal):
        return None
    CALLERS.forget(claims)
    return None


def create_items(raw: Any, claims: Claims) -> Result:
    return _write("create", raw, claims)


def update_items(raw: Any, claims: Claims) -> Result:
    return _write("update", raw, claims)


def delete_items(raw: Any, claims: Claims) -> Result:
    return _write("delete", raw, claims)


def _write(operation: Literal["create", "update", "delete"], raw: Any, claims: Claims) -> Result:
    # Imported here, not with the module: get_items's cold start does without the write engine.
    from dataapi import writes
    from dataapi.identity.directory import with_directory

    plan = {"create": writes.plan_create, "update": writes.plan_update, "delete": writes.plan_delete}
    work = plan[operation](raw, default_registry(), get_settings())

    def as_caller(session: Session, users: CognitoUsers) -> Result:
        auth = for_caller(session, claims)
        return work(session, auth.caller.username, auth, {"User": users})

    return with_directory(as_caller, default_policy().spec.default_roles)
