"""The engine called directly, with no caller and no policy: the integration and compile-only tiers.

The layer offers only the plans (`reads.plan`, `writes.plan_*`) that the routes run under the
caller's policy; these run the same plans without one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import pg8000
from sqlalchemy.orm import Session

from dataapi import reads, writes
from dataapi.registry import Registry
from dataapi.result import Result
from dataapi.settings import Settings

DIALECT = pg8000.dialect()


def read(
    session: Session, raw: Any, registry: Registry, settings: Settings, now: datetime | None = None
) -> Result:
    return reads.plan(raw, registry, settings, now).run(session, auth=None)


def prepare(raw: Any, registry: Registry, settings: Settings, now: datetime) -> reads.PreparedRead:
    """Parse, validate and compile a read, built whole (no statement reused), with no database."""
    valid = reads.validate(raw, registry, settings, now)
    return reads.compile_read(valid, valid.filters, DIALECT, reuse=False)


def create(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    return writes.plan_create(raw, registry, settings).run(session, actor=actor, auth=None, hooks={})


def update(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    return writes.plan_update(raw, registry, settings).run(session, actor=actor, auth=None, hooks={})


def delete(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    return writes.plan_delete(raw, registry, settings).run(session, actor=actor, auth=None, hooks={})
