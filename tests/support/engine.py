"""The engine called directly, with no caller and no policy: the integration and compile-only tiers.

The layer offers only the planned operations (`reads.plan`, `writes.plan_*`) that the routes run
under the caller's policy; these wrappers run the same plans without one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dataapi import reads, writes
from dataapi.registry import Registry
from dataapi.result import Result
from dataapi.settings import Settings


def read(
    session: Session, raw: Any, registry: Registry, settings: Settings, now: datetime | None = None
) -> Result:
    return reads.plan(raw, registry, settings, now)(session, None, False)


def prepare(raw: Any, registry: Registry, settings: Settings, now: datetime) -> reads.PreparedRead:
    """Parse, validate and compile a read (no database)."""
    return reads.prepare(raw, registry, settings, now)


def create(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    return writes.plan_create(raw, registry, settings)(session, actor, None, {})


def update(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    return writes.plan_update(raw, registry, settings)(session, actor, None, {})


def delete(session: Session, raw: Any, actor: str, registry: Registry, settings: Settings) -> Result:
    return writes.plan_delete(raw, registry, settings)(session, actor, None, {})
