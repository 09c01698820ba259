"""A read compiled to SQL text, with no database: the compile-only tier (tests/unit/test_compile.py,
tests/unit/test_operators_sql.py).

`compiled(request)` is the read's whole statement for PostgreSQL (pg8000, pyformat placeholders,
whitespace collapsed, the driver's casts dropped except jsonb) and its parameters; `where_of`
the WHERE clause of a read of Item.
"""

import re
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import pg8000

from dataapi.registry import default_registry
from dataapi.settings import Settings
from tests.support.engine import prepare

NOW = datetime(2025, 12, 5, 13, 45, 10, tzinfo=UTC)


def compiled(request: dict, **settings) -> tuple[str, dict]:
    query = prepare(request, default_registry(), Settings(**settings), NOW).query
    sql = query.statement.compile(dialect=pg8000.dialect(paramstyle="pyformat"))
    # The driver's explicit parameter casts are noise here, except jsonb: that one is the point.
    return re.sub(r"::(VARCHAR|INTEGER|TIMESTAMP WITH TIME ZONE)", "", " ".join(str(sql).split())), sql.params


def where_of(request: dict) -> tuple[str, dict]:
    sql, params = compiled({"model_name": "Item", "requested_data": ["id"], **request})
    return sql.split(" WHERE ", 1)[1].rsplit(" ORDER BY ", 1)[0], params
