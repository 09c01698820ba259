"""Run a compiled read: one data statement for the page, one more only when a count is asked."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Select
from sqlalchemy.sql.compiler import SQLCompiler

from dataapi.db.engine import ReadConnection
from dataapi.query.serialize import rows_json


@dataclass(frozen=True, slots=True)
class Page:
    body: str  # the JSON array of the rows, as PostgreSQL built them
    size: int  # rows on the page
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
    *,
    one_row: bool = False,
) -> Page:
    """`params`: values for a statement compiled once per shape (dataapi.query.shapes).
    `one_row`: `page` is a page aggregated into one row (dataapi.query.select.one_row)."""
    result = connection.rows(page, params)
    if one_row:
        body, size, *last = result[0]
        keys = last if size else None
    else:
        body, size = rows_json([r[0] for r in result]), len(result)
        keys = list(result[-1][1:]) if result else None
    total = connection.rows(count, count_params)[0][0] if count is not None else None
    return Page(body, size, keys, total)
