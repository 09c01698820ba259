"""Helpers of the write-engine tests (test_writes_*.py): calling the services and reading rows back.

The services `create` / `update` / `delete` are called directly on `db_session` (rolled back after
the test); the database is checked row by row in SQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from dataapi.db import wire
from dataapi.errors import ApiError
from dataapi.registry import default_registry
from dataapi.result import Result
from dataapi.settings import Settings
from tests.support.engine import create, delete, update

ACTOR = "clerk"
Service = Callable[..., Result]
SERVICES: dict[str, Service] = {"create": create, "update": update, "delete": delete}
TABLES = (
    "User",
    "Role",
    "user_roles",
    "Dealer",
    "Dealer_History",
    "Dealer_Notes",
    "Item",
    "Item_History",
    "Item_Note",
    "Items_Notes",
    "Item_Notes_Subject",
)


# ---- helpers ------------------------------------------------------------------------------------


def call(
    service: Service, session: Session, raw: Any, settings: Settings | None = None
) -> tuple[Result, Any]:
    result = service(session, raw, ACTOR, default_registry(), settings or Settings())
    return result, json.loads(result.body)


def refused(service: Service, session: Session, raw: Any, settings: Settings | None = None) -> ApiError:
    with pytest.raises(ApiError) as info:
        service(session, raw, ACTOR, default_registry(), settings or Settings())
    return info.value


def rows(session: Session, sql: str, **params: Any) -> list[tuple]:
    return [tuple(r) for r in session.execute(text(sql), params).all()]


def scalar(session: Session, sql: str, **params: Any) -> Any:
    return session.execute(text(sql), params).scalar_one()


def counts(session: Session) -> dict[str, int]:
    return {t: scalar(session, f'SELECT count(*) FROM "{t}"') for t in TABLES}


def note_items(session: Session, note_id: int) -> list[int]:
    return [
        r[0]
        for r in rows(
            session, 'SELECT item_id FROM "Items_Notes" WHERE note_id = :n ORDER BY item_id', n=note_id
        )
    ]


def item_notes(session: Session, item_id: int) -> list[int]:
    return [
        r[0]
        for r in rows(
            session, 'SELECT note_id FROM "Items_Notes" WHERE item_id = :i ORDER BY note_id', i=item_id
        )
    ]


def history(session: Session, item_id: int) -> list[tuple]:
    """(column_name, from_value, to_value, type, user_name) of an item's history, oldest first."""
    return rows(
        session,
        'SELECT column_name, from_value, to_value, type, user_name FROM "Item_History" '
        "WHERE item_id = :i ORDER BY id",
        i=item_id,
    )


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements the driver sends inside the block (`dataapi.db.wire.watched`: one per
    execute, an executemany one per parameter set), without the test's SAVEPOINT bookkeeping.
    `session` runs on a wire engine (the seeded engine is one); statements that other connections
    send inside the block would count too."""
    seen: list[str] = []
    with wire.watched() as sent:
        try:
            yield seen
        finally:
            seen[:] = [
                s for s in sent if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO"))
            ]


def update_item(session: Session, item_id: int, values: dict, **request: Any) -> tuple[Result, Any]:
    return call(
        update,
        session,
        {
            "model_name": "Item",
            "query_filters": {"id": item_id},
            "update_type": "first_match",
            "object_values": values,
            **request,
        },
    )


def delete_rows(
    session: Session, model: str, filters: dict, kind: str | None = "delete_all", **extra: Any
) -> Result:
    values: dict[str, Any] = {"query_filters": filters, **extra}
    if kind is not None:
        values["deletion_type"] = kind
    return call(delete, session, {"model_name": model, "object_values": values})[0]
