"""Run a compiled read: one data statement for the page, one more only when a count is asked."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Select
from sqlalchemy.sql.compiler import SQLCompiler

from dataapi.db.engine import ReadConnection


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[str]  # each row's JSON text, as PostgreSQL built it
    last_keys: list[Any] | None  # sort values of the last row, for the next cursor
    count: int | None


def compile_for(statement: Select[Any], dialect: Dialect) -> SQLCompiler:
    """The statement compiled once, to be sent on the DB-API connection (ReadConnection.rows)."""
    found = statement.compile(dialect=dialect)
    assert isinstance(found, SQLCompiler)
    return found


def fetch(
    connection: ReadConnection,
    page: SQLCompiler,
    params: dict[str, Any] | None = None,
    count: SQLCompiler | None = None,
    count_params: dict[str, Any] | None = None,
) -> Page:
    """`params`: values for a statement compiled once per shape (dataapi.query.shapes)."""
    result = connection.rows(page, params)
    rows = [r[0] for r in result]
    last = list(result[-1][1:]) if result else None
    total = connection.rows(count, count_params)[0][0] if count is not None else None
    return Page(rows, last, total)
