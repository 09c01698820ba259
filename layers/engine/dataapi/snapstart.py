"""Lambda SnapStart: what a new container would pay for at its first request, paid once per
published version, and what must not outlive the snapshot, dropped at each restore.

With SnapStart, Lambda runs a version's init phase once, snapshots the memory and starts new
containers from that snapshot. `prime`, run before the snapshot, does everything the first request
of a container pays for that needs no database: the imports of every route (the write engine
too), the logger's correlation-id path parsed, SQLAlchemy's mapper configuration, the policy's check and its grants per role, the engine
(no connection: it connects at the first request), the statement that loads a caller, compiled
into the engine's cache, and the statements of the front end's common reads, built and compiled
as those reads reuse them (dataapi.query.shapes); the placeholders of all these converted as the
driver sends them (dataapi.db.wire.convert_ahead). It opens no
connection and no socket: nothing that is reached during init may be in the snapshot.

`after_restore` runs in every restored container before its first request: it drops whatever
must differ per container or may not survive a snapshot: pooled database connections, the AWS
clients (with their connection pools and credentials), the tracer's socket, the callers the
container remembers, and the state of `random`, re-seeded.

`register` hands both to Lambda's runtime (`snapshot_restore_py`, part of the managed Python
runtime, not of the layer). Where that module is absent (the local gateway, tests) it registers
nothing, and the handlers work as without SnapStart.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import random
from datetime import UTC, datetime
from typing import Any

COMMON_READS: tuple[dict[str, Any], ...] = (
    {  # the item list
        "model_name": "Item",
        "requested_data": ["id", "article_number", "reference_number", "category", "type", "state",
                           "location", "purchased_price", "valuation", "images", "created_at",
                           {"dealer": ["dealer_name", "id"]}],
        "query_filters": {},
        "per_page": 60,
        "cursor": None,
    },
    {  # the item list's search box
        "model_name": "Item",
        "requested_data": ["id", "article_number", "reference_number", "state",
                           {"dealer": ["dealer_name", "id"]}],
        "query_filters": {
            "or-article_number": {"operation": "ilike", "value": "%"},
            "or-reference_number": {"operation": "ilike", "value": "%"},
        },
        "per_page": 60,
        "cursor": None,
    },
    {  # one item, with its dealer, notes and history
        "model_name": "Item",
        "requested_data": ["id", "article_number", "reference_number", "state", "properties",
                           "created_at", "created_by",
                           {"dealer": ["id", "dealer_name", "dealer_type", "phone", "raw_address"]},
                           {"notes": ["id", "note_content", "creation_time", {"subject": ["id", "subject"]}]},
                           {"item_history": ["id", "column_name", "from_value", "to_value",
                                             "recorded_time", "type", "user_name"]}],
        "query_filters": {"id": 1},
    },
)  # fmt: skip
"""The front end's common reads (tests/handler/bodies/get_items_*.json): their shapes are compiled
before the snapshot. Values do not matter, only the shape: filter values are bound at each request."""

WRITE_MODULES = (
    "dataapi.writes",
    "dataapi.idempotency",
    "dataapi.ops.directory",
    "dataapi.ops.session",
    "dataapi.ops.files",
    "dataapi.ops.scheduled",
)
"""Imported by the routes at their first call (so that get_items's cold start does without them)."""

_registered = False


def register() -> None:
    """Hand `prime` and `after_restore` to the SnapStart runtime, once per process; nothing where
    the runtime's module is absent (outside Lambda's managed runtime)."""
    global _registered
    if _registered or importlib.util.find_spec("snapshot_restore_py") is None:
        return
    from snapshot_restore_py import register_after_restore, register_before_snapshot

    register_before_snapshot(prime)
    register_after_restore(after_restore)
    _registered = True


def prime() -> None:
    """Everything the first request pays for that needs no connection (see the module's doc)."""
    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.utilities.jmespath_utils import query
    from sqlalchemy.orm import configure_mappers

    from dataapi import reads
    from dataapi.db import sqlalchemy_internals, wire
    from dataapi.db.engine import get_engine
    from dataapi.errors import PolicyRefusal
    from dataapi.identity.authorize import Authorizer
    from dataapi.identity.caller import BY_SUBJECT, Caller
    from dataapi.identity.policy import default_policy
    from dataapi.registry import default_registry
    from dataapi.settings import get_settings

    for name in WRITE_MODULES:
        importlib.import_module(name)
    query({}, correlation_paths.API_GATEWAY_REST)  # the logger's path, parsed once per process at first use
    configure_mappers()
    registry, policy, settings = default_registry(), default_policy(), get_settings()
    policy.check(registry)
    engine = get_engine()  # creating the engine connects nothing
    dialect = engine.dialect
    # The caller's statement, and each read's below, compiled and its placeholders converted.
    wire.convert_ahead(sqlalchemy_internals.compile_into_cache(engine, BY_SUBJECT, ("sub",)))
    if not settings.db_host and not settings.db_secret_arn:  # a DATABASE_URL: no TLS context of its own
        wire.prefer_tls_context()
    now = datetime.now(UTC)
    callers = [Caller(None, "snapstart", roles=({"id": 0, "role": role},)) for role in sorted(policy.roles())]
    for raw in COMMON_READS:
        valid = reads.plan(raw, registry, settings, now).valid
        for caller in callers:
            try:
                filters = Authorizer(policy, caller).authorize_read(
                    valid.model, valid.fields, valid.filters, valid.order
                )
            except PolicyRefusal:
                continue  # this role may not make this read: it is refused before any SQL
            prepared = reads.compile_read(valid, filters, dialect)
            wire.convert_ahead(sqlalchemy_internals.bind(prepared.page, prepared.params).statement)
            if prepared.count_compiled is not None:
                count = sqlalchemy_internals.bind(prepared.count_compiled, prepared.count_params)
                wire.convert_ahead(count.statement)
    # What init made and kept lives as long as the container: no garbage collection walks it again
    # (in a restored container, a walk would touch every page of the snapshot).
    gc.collect()
    gc.freeze()


def after_restore() -> None:
    """Drop what must not outlive the snapshot (see the module's doc)."""
    from dataapi.db.engine import forget_connections
    from dataapi.identity import cognito
    from dataapi.identity.remembered import CALLERS
    from dataapi.storage import files
    from dataapi.telemetry import tracer

    forget_connections()
    cognito.client.cache_clear()
    files._s3.cache_clear()
    tracer.forget_socket()
    CALLERS.clear()
    random.seed()
