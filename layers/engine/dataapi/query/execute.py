"""Run a compiled read: one data statement for the page, one more only when a count is asked."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from dataapi.db.engine import core
from dataapi.query.select import ReadPlan


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[str]  # each row's JSON text, as PostgreSQL built it
    last_keys: list[Any] | None  # sort values of the last row, for the next cursor
    count: int | None


def fetch(
    session: Session | Connection,
    plan: ReadPlan,
    params: dict[str, Any] | None = None,
    count_params: dict[str, Any] | None = None,
) -> Page:
    """`params`: values for a statement built once per shape (dataapi.query.shapes)."""
    connection = core(session)  # a Core statement: the ORM's execute path adds nothing
    result = connection.execute(plan.statement, params).all()
    rows = [r[0] for r in result]
    last = list(result[-1][1:]) if result else None
    count = connection.execute(plan.count, count_params).scalar_one() if plan.count is not None else None
    return Page(rows, last, count)
