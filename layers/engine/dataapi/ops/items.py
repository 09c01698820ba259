"""The item routes as handlers call them: the request planned (validated) first, then, in the
request's one transaction, the caller loaded and the plan run under the caller's policy.
A read runs as the caller the container remembers, when it still is that caller
(dataapi.identity.remembered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

    from dataapi.idempotency import Keyed
    from dataapi.ops.directory import CognitoUsers
    from dataapi.writes import WritePlan

Claims = dict[str, str]

default_policy().check(default_registry())  # a policy naming unknown models or fields fails the cold start


def get_items(raw: Any, claims: Claims) -> Result:
    plan = reads.plan(raw, default_registry(), get_settings())
    result = _as_remembered(plan, claims)
    if result is not None:
        return result
    with transaction(also=GENERATION) as session:
        auth = for_caller(session, claims)
        CALLERS.remember(claims, auth.caller, begin_value(session))
        return plan.run(session, auth=auth, last=True)


def _as_remembered(plan: reads.ReadPlan, claims: Claims) -> Result | None:
    """The page read as the remembered caller; None when there is none, when the caller changed
    since (the page is dropped), or when it was refused: only a loaded caller is ever refused."""
    try:
        remembered = CALLERS.get(claims)
        if remembered is None:
            return None
        with read_transaction(also=GENERATION) as connection:
            result = plan.run(connection, auth=Authorizer(default_policy(), remembered.caller), last=True)
            if begin_value(connection) == remembered.generation:
                return result
    except (Forbidden, PolicyRefusal):
        return None
    CALLERS.forget(claims)
    return None


# The write engine is imported inside the write routes, not with the module: get_items's cold
# start does without it.


def create_items(raw: Any, claims: Claims, key: str | None = None) -> Result:
    from dataapi import writes

    keyed = _keyed("create_items", raw, claims, key)
    return _as_caller(writes.plan_create(raw, default_registry(), get_settings()), claims, keyed)


def update_items(raw: Any, claims: Claims, key: str | None = None) -> Result:
    from dataapi import writes

    keyed = _keyed("update_items", raw, claims, key)
    return _as_caller(writes.plan_update(raw, default_registry(), get_settings()), claims, keyed)


def delete_items(raw: Any, claims: Claims, key: str | None = None) -> Result:
    from dataapi import writes

    keyed = _keyed("delete_items", raw, claims, key)
    return _as_caller(writes.plan_delete(raw, default_registry(), get_settings()), claims, keyed)


def _keyed(route: str, raw: Any, claims: Claims, key: str | None) -> Keyed | None:
    """A request sent with an Idempotency-Key, keyed by the caller's token subject (the caller is
    found by it: dataapi.identity.caller)."""
    from dataapi.idempotency import Keyed

    return Keyed.of(claims.get("sub", ""), route, key, raw)


def _as_caller(plan: WritePlan, claims: Claims, keyed: Keyed | None = None) -> Result:
    """The write run as the caller, with User rows mirrored to Cognito users. A keyed write claims
    its key with the caller's load and answers a stored answer before anything runs
    (dataapi.idempotency)."""
    from dataapi.idempotency import Claim
    from dataapi.ops.directory import with_directory

    claim = None if keyed is None else Claim.of(keyed, get_settings())

    def run(session: Session, users: CognitoUsers) -> Result:
        if claim is not None:
            claim.at_begin(session)
        auth = for_caller(session, claims)
        if claim is not None and (stored := claim.replay(session)) is not None:
            return stored
        result = plan.run(session, actor=auth.caller.username, auth=auth, hooks={"User": users})
        if claim is not None:
            claim.store(session, result)
        return result

    return with_directory(run, default_policy().spec.default_roles)
