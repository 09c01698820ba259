"""The checker of tests/handler/test_transaction_pooling.py: it flags every statement that pins (RDS
Proxy) or breaks (PgBouncer) under transaction pooling, and passes what the layer really sends."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dataapi.db import engine, wire
from dataapi.identity.remembered import GENERATION
from tests.support.pinning import PATTERNS, offenders, pinning

FLAGGED = {
    "session SET": [
        "SET statement_timeout = 5000",
        "set search_path to public",
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "  SET TIME ZONE 'UTC'",
        "begin transaction; SET statement_timeout = 5000",
        "RESET statement_timeout",
        "SET CLIENT_ENCODING TO 'utf8'",
    ],
    "session set_config": [
        "SELECT set_config('statement_timeout', '5000', false)",
        "select set_config('search_path', 'public', %s)",
        "begin transaction; SELECT set_config('statement_timeout', '10000', false)",
    ],
    "named PREPARE": [
        'PREPARE items_page (int) AS SELECT * FROM "Item" WHERE id < $1',
        "prepare p AS select 1",
    ],
    "session advisory lock": [
        "SELECT pg_advisory_lock(42)",
        "SELECT pg_try_advisory_lock(1, 2)",
        "SELECT pg_advisory_unlock(42)",
        "SELECT pg_advisory_unlock_all()",
        "SELECT pg_advisory_lock_shared(%s)",
        "select pg_try_advisory_lock_shared (7)",
    ],
    "temporary table": [
        "CREATE TEMP TABLE ids (id int) ON COMMIT DROP",
        "create temporary table t as select 1",
        "CREATE GLOBAL TEMPORARY TABLE t (a int)",
        'SELECT id INTO TEMP ids FROM "Item"',
    ],
    "LISTEN": ["LISTEN item_changes", "UNLISTEN *", "begin transaction; listen x"],
    "WITH HOLD cursor": ['DECLARE c CURSOR WITH HOLD FOR SELECT * FROM "Item"'],
}

SAFE = [
    "SET LOCAL statement_timeout = 5000",
    "begin transaction; SET LOCAL lock_timeout = '1s'",
    "SELECT set_config('statement_timeout', '10000', true)",
    "SELECT set_config('statement_timeout', '10000', 'on')",
    "SELECT pg_advisory_xact_lock(%s)",
    "SELECT pg_try_advisory_xact_lock(1)",
    'UPDATE "Item" SET state=%s WHERE "Item".id = %s',
    'UPDATE "Item"\nSET state = %s',
    'INSERT INTO "Item" (state) VALUES (%s) ON CONFLICT (id) DO UPDATE SET state = excluded.state',
    'SELECT "Item".id FROM "Item" WHERE "Item".category = %s ORDER BY "Item".id DESC',
    "DECLARE c CURSOR FOR SELECT 1",
    'SELECT count(*) FROM "Item_Note" WHERE note_content = %s',
    "commit",
    "rollback",
    ";",
    "show standard_conforming_strings",
]


@pytest.mark.parametrize(
    ("name", "statement"), [(name, s) for name, statements in FLAGGED.items() for s in statements]
)
def test_each_pattern_flags_its_statements(name: str, statement: str) -> None:
    assert name in pinning(statement), (name, statement)


def test_every_pattern_has_examples() -> None:
    assert set(FLAGGED) == set(PATTERNS)


@pytest.mark.parametrize("statement", SAFE)
def test_statements_safe_under_transaction_pooling_pass(statement: str) -> None:
    assert pinning(statement) == []


@pytest.mark.parametrize("also", ["", GENERATION])
def test_the_layers_real_transaction_start_passes(also: str) -> None:
    """The query that begins every request's transaction, as dataapi.db.engine builds it: the
    statement timeout set with set_config(..., true), ending with the transaction."""
    connection = SimpleNamespace(begin_sql=wire.BEGIN)
    engine._begin_with_timeout(connection, also)  # type: ignore[arg-type]
    assert connection.begin_sql.startswith("begin transaction; SELECT set_config('statement_timeout', ")
    assert pinning(connection.begin_sql) == []
    assert ", true)" in connection.begin_sql
    assert pinning(connection.begin_sql.replace(", true)", ", false)")) == ["session set_config"]


def test_offenders_lists_each_distinct_statement_once() -> None:
    found = offenders(["SELECT 1", "SET x = 1", "SET x = 1", "LISTEN y"])
    assert found == {"SET x = 1": ["session SET"], "LISTEN y": ["LISTEN"]}
