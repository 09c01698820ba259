"""Scheduled batch updates (docs/contract.md §8): an EventBridge Schedule invokes update_items with its Input as
the event, without `requestContext`. The run is validated, runs as the `scheduler` principal in one
transaction, and answers a summary; any failure rolls back and raises, so Lambda's asynchronous
retries and the on-failure destination catch it. Nothing matched is a successful run of 0 rows:
a fixed input such as "sold more than 90 days ago" is safe to repeat.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dataapi import writes
from dataapi.boundary import check_body
from dataapi.db.engine import run_in_transaction
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


def run(event: Any) -> dict[str, Any]:
    check_body(event)  # EventBridge input is JSON too: the same text and nesting rules
    plan = writes.plan_update(event, default_registry(), get_settings(), missing_ok=True)

    def as_scheduler(session: Session) -> Result:
        auth = Authorizer(default_policy(), SCHEDULER)
        return plan.run(session, actor=SCHEDULER.username, auth=auth, hooks={})

    result = run_in_transaction(as_scheduler)
    summary = {"status": result.status, "message": result.message, "rows": result.rows}
    count("ScheduledRowsUpdated", result.rows)
    logger.info("scheduled run", extra={"run": summary})
    return summary
