"""Scheduled batch updates (docs/contract.md §8): an EventBridge Schedule invokes update_items with its Input as
the event, without `requestContext`. The run is validated, runs as the `scheduler` principal in one
transaction, and answers a summary; any failure rolls back and raises, so Lambda's asynchronous
retries and the on-failure destination catch it. Nothing matched is a successful run of 0 rows:
a fixed input such as "sold more than 90 days ago" is safe to repeat.

A run whose input carries `"run_id"` (the identity EventBridge Scheduler gives the run) records it
in the run's transaction (dataapi.idempotency): the same run_id again does nothing and answers the
first run's summary with `"replayed": true`. A run that failed committed nothing, so Lambda's
retry of it runs. `{"housekeeping": "idempotency"}` removes expired idempotency keys and run ids.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from dataapi import writes
from dataapi.boundary import check_body
from dataapi.db.engine import run_in_transaction
from dataapi.errors import MalformedRequest
from dataapi.idempotency import Claim, Keyed, check_key, expired_removed
from dataapi.identity.authorize import Authorizer
from dataapi.identity.caller import SCHEDULER
from dataapi.identity.policy import default_policy
from dataapi.registry import default_registry
from dataapi.result import Result
from dataapi.settings import get_settings
from dataapi.telemetry import count, logger

_API_GATEWAY_KEYS = frozenset(
    (
        "requestContext",
        "httpMethod",
        "path",
        "resource",
        "headers",
        "multiValueHeaders",
        "body",
        "isBase64Encoded",
    )
)
"""Keys of an API Gateway proxy event. An update request has none of them: an event with any is a
request (answered by the routes, 401 without a caller), never a scheduled run."""


def is_scheduled(event: Any) -> bool:
    return isinstance(event, list) or (isinstance(event, dict) and not _API_GATEWAY_KEYS & event.keys())


RUN_ID = "run_id"
ROUTE = "scheduled:update_items"  # the route of run ids in dataapi.idempotency
HOUSEKEEPING = "housekeeping"
HOUSEKEEPING_BATCH = 5000  # expired keys removed per transaction
HOUSEKEEPING_MAX_BATCHES = 200  # per run: the rest waits for the next run


def run(event: Any) -> dict[str, Any]:
    check_body(event)  # EventBridge input is JSON too: the same text and nesting rules
    if isinstance(event, dict) and HOUSEKEEPING in event:
        return housekeeping(event)
    run_id, request = _run_id(event)
    settings = get_settings()
    plan = writes.plan_update(request, default_registry(), settings, missing_ok=True)
    keyed = Keyed.of(SCHEDULER.username, ROUTE, run_id, request)
    claim = None if keyed is None else Claim.of(keyed, settings)

    def as_scheduler(session: Session) -> Result:
        if claim is not None and (stored := claim.now(session)) is not None:
            return stored
        auth = Authorizer(default_policy(), SCHEDULER)
        result = plan.run(session, actor=SCHEDULER.username, auth=auth, hooks={})
        if claim is not None:
            claim.store(session, _stored(result))
        return result

    result = run_in_transaction(as_scheduler)
    summary = {**json.loads(result.body), "replayed": True} if result.replayed else _summary(result)
    if not result.replayed:
        count("ScheduledRowsUpdated", result.rows)
    if run_id is not None:
        summary["run_id"] = run_id
    logger.info("scheduled run", extra={"run": summary})
    return summary


def _run_id(event: Any) -> tuple[str | None, Any]:
    """The run's `run_id` (1-255 visible ASCII characters) and the update request without it."""
    if not isinstance(event, dict) or RUN_ID not in event:
        return None, event
    request = {k: v for k, v in event.items() if k != RUN_ID}
    run_id = event[RUN_ID]
    if not isinstance(run_id, str):
        raise MalformedRequest(f"'{RUN_ID}' must be a string.", at="/" + RUN_ID, detail=f"field={RUN_ID}")
    return check_key(run_id, name=RUN_ID, at="/" + RUN_ID), request


def _summary(result: Result) -> dict[str, Any]:
    return {"status": result.status, "message": result.message, "rows": result.rows}


def _stored(result: Result) -> Result:
    """What a run id stores: the run's summary as the body (a replay answers it)."""
    return Result(result.status, result.message, json.dumps(_summary(result)))


def housekeeping(event: dict[str, Any]) -> dict[str, Any]:
    """`{"housekeeping": "idempotency"}`: expired idempotency keys and run ids removed, in
    transactions of HOUSEKEEPING_BATCH rows (each short: claims are never kept waiting long)."""
    task = event[HOUSEKEEPING]
    if task != "idempotency" or len(event) != 1:
        raise MalformedRequest(
            'A housekeeping run is {"housekeeping": "idempotency"}.',
            at="/" + HOUSEKEEPING,
            detail=f"field={HOUSEKEEPING}",
        )
    removed = 0
    for _ in range(HOUSEKEEPING_MAX_BATCHES):
        batch = run_in_transaction(lambda session: expired_removed(session, limit=HOUSEKEEPING_BATCH))
        removed += batch
        if batch < HOUSEKEEPING_BATCH:
            break
    count("IdempotencyKeysExpired", removed)
    summary = {"status": 200, "message": "Expired idempotency keys removed.", "rows": removed}
    logger.info("housekeeping run", extra={"run": summary})
    return summary
