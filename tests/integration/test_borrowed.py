"""Every internal of SQLAlchemy and pg8000 the layer borrows, named one by one.

The layer reads private attributes of two dependencies, each in one module: pg8000's in
dataapi/db/wire.py, SQLAlchemy's in dataapi/db/sqlalchemy_internals.py. An upgrade that removes or
renames one fails here, naming the version, the attribute and what the layer uses it for, before it
fails a request; and no other module of the layer may reach for them.
"""

from __future__ import annotations

import ast
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pg8000
import pytest
import sqlalchemy
from pg8000 import converters, core, dbapi
from sqlalchemy import Dialect, create_engine, event, select, text
from sqlalchemy.dialects.postgresql import pg8000 as sa_pg8000
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from dataapi.db import sqlalchemy_internals as sa_internals
from dataapi.db import wire
from dataapi.models import Role, User
from devtools.pgcluster import Cluster

pytestmark = pytest.mark.db

LAYER = Path(__file__).resolve().parents[2] / "layers" / "engine" / "dataapi"


@dataclass(frozen=True)
class Borrowed:
    owner: str  # where the attribute lives, as a reader would look it up
    name: str
    used_for: str


PG8000_MODULES = [
    Borrowed("pg8000.core", "_flush", "flushing Parse..Sync of a statement in one write"),
    Borrowed("pg8000.core", "_write", "writing Execute and Sync into the socket's buffer"),
    *(
        Borrowed("pg8000.core", name, "building the extended-query messages pg8000 builds")
        for name in ("PARSE", "DESCRIBE", "BIND", "EXECUTE_MSG", "SYNC_MSG", "STATEMENT", "NULL_BYTE")
    ),
    Borrowed("pg8000.core", "Context", "reading a statement's answers"),
    Borrowed("pg8000.converters", "make_params", "values to wire text, as pg8000 sends them"),
    Borrowed("pg8000.dbapi", "convert_paramstyle", "%s placeholders to $1, cached per statement"),
]
PG8000_CONNECTION = [
    Borrowed("Connection", "_sock", "the buffered socket statements are written to"),
    Borrowed("Connection", "_usock", "the raw socket: its read timeout bounds every wait"),
    Borrowed("Connection", "_in_transaction", "holding BEGIN back until the first statement"),
    Borrowed("Connection", "_client_encoding", "encoding statements and values"),
    Borrowed("Connection", "_send_message", "sending Parse, Describe and Bind"),
    Borrowed("Connection", "send_QUERY", "sending BEGIN, COMMIT and ROLLBACK as simple queries"),
    Borrowed("Connection", "handle_messages", "reading each answer of one flush in order"),
    Borrowed("Connection", "py_types", "the Python types pg8000 converts"),
    Borrowed("Connection", "autocommit", "whether a statement begins a transaction"),
]
PG8000_CURSOR = [
    Borrowed("Cursor", name, "set as pg8000's Cursor.execute sets it")
    for name in ("_c", "_context", "_row_iter", "_input_oids", "input_types")
]
SQLALCHEMY_COMPILED = [
    Borrowed("SQLCompiler", "_bind_processors", "binding a read's values as SQLAlchemy binds them"),
    Borrowed("SQLCompiler", "construct_expanded_state", "the statement with IN lists expanded"),
    Borrowed("SQLCompiler", "bind_names", "which bound parameter each value of a read shape became"),
]
SQLALCHEMY_OTHER = [
    Borrowed("ExpandedState", name, "the expanded statement and its values in order")
    for name in ("statement", "parameters", "processors", "positiontup")
] + [
    Borrowed("DBAPIError", "instance", "raising a driver error as SQLAlchemy raises it"),
    Borrowed("Dialect", "is_disconnect", "marking a dropped connection, so the pool discards it"),
    Borrowed("Dialect", "loaded_dbapi", "the driver's error classes"),
    Borrowed("Dialect", "use_insertmanyvalues_wo_returning", "executemany INSERTs as multi-row INSERTs"),
    Borrowed("Select", "_compile_w_cache", "a statement compiled into the engine's cache before it connects"),
    Borrowed("Engine", "_compiled_cache", "the engine's cache of compiled statements"),
    Borrowed("PGDialect", "initialize", "the first connect's questions, asked in one query"),
    Borrowed("PGDialect", "_get_server_version_info", "the server's version, from that one query"),
    Borrowed("PGDialect", "_get_default_schema_name", "the default schema, from that one query"),
    Borrowed("PGDialect", "get_default_isolation_level", "the isolation level, from that one query"),
    Borrowed("PGDialect", "_set_backslash_escapes", "standard_conforming_strings, from that one query"),
]


def _missing(dependency: str, version: str, item: Borrowed, adapter: str) -> str:
    return (
        f"{dependency} {version} has no {item.owner}.{item.name}, which the layer borrows for "
        f"{item.used_for} ({adapter}): this upgrade broke that borrowing"
    )


@pytest.fixture(scope="module")
def connection(pg: Cluster) -> Iterator[wire.Connection]:
    conn = wire.Connection(user="postgres", host="127.0.0.1", port=pg.port, database="postgres")
    yield conn
    conn.close()


@pytest.mark.parametrize("item", PG8000_MODULES, ids=lambda b: f"{b.owner}.{b.name}")
def test_pg8000_module_internals(item: Borrowed) -> None:
    module = {"pg8000.core": core, "pg8000.converters": converters, "pg8000.dbapi": dbapi}[item.owner]
    assert hasattr(module, item.name), _missing("pg8000", pg8000.__version__, item, "dataapi/db/wire.py")


@pytest.mark.parametrize("item", PG8000_CONNECTION + PG8000_CURSOR, ids=lambda b: f"{b.owner}.{b.name}")
def test_pg8000_connection_internals(connection: wire.Connection, item: Borrowed) -> None:
    found: Any = connection
    if item.owner == "Cursor":  # as pg8000 leaves a cursor after a statement
        found = dbapi.Cursor(connection)
        found.execute("SELECT 1")
    assert hasattr(found, item.name), _missing("pg8000", pg8000.__version__, item, "dataapi/db/wire.py")


def _compiled() -> SQLCompiler:
    compiled = select(User.id).where(User.id.in_([1, 2])).compile(dialect=sa_pg8000.dialect())
    assert isinstance(compiled, SQLCompiler)
    return compiled


def _owner(name: str) -> Callable[[], Any]:
    dialect: Dialect = create_engine("postgresql+pg8000://").dialect  # the driver loaded, not connected
    return {
        "ExpandedState": lambda: _compiled().construct_expanded_state({}, escape_names=False),
        "DBAPIError": lambda: DBAPIError,
        "Dialect": lambda: dialect,
        "Select": lambda: select(User.id),
        "Engine": lambda: create_engine("postgresql+pg8000://"),
        "PGDialect": lambda: sa_pg8000.PGDialect_pg8000,
    }[name]


@pytest.mark.parametrize("item", SQLALCHEMY_COMPILED + SQLALCHEMY_OTHER, ids=lambda b: f"{b.owner}.{b.name}")
def test_sqlalchemy_internals(item: Borrowed) -> None:
    found = _compiled() if item.owner == "SQLCompiler" else _owner(item.owner)()
    adapter = "dataapi/db/sqlalchemy_internals.py"
    assert hasattr(found, item.name), _missing("SQLAlchemy", sqlalchemy.__version__, item, adapter)


def test_the_orm_inserts_link_rows_with_the_link_table_s_insert(seeded_engine: Any) -> None:
    """dataapi.models.links.LinkTable counts on the ORM writing a many-to-many pair with the link
    table's own insert(): the INSERT it sends must skip a pair already there."""
    with Session(seeded_engine) as session:
        role = Role(role="Borrowed", key="borrowed")
        user = User(username="borrowed", email="borrowed@example.com", phone="-")
        session.add_all([role, user])
        session.flush()
        with wire.watched() as sent:
            user.roles.append(role)
            session.flush()
        session.rollback()
    inserts = [s for s in sent if s.lstrip().upper().startswith("INSERT INTO USER_ROLES")]
    assert inserts and all(s.rstrip().endswith("ON CONFLICT DO NOTHING") for s in inserts), (
        f"SQLAlchemy {sqlalchemy.__version__} no longer inserts link rows with the link table's insert(): {sent}"
    )


PRIVATE = {
    "wire.py": {
        item.name for item in PG8000_MODULES + PG8000_CONNECTION + PG8000_CURSOR if item.name[0] == "_"
    },
    "sqlalchemy_internals.py": {
        item.name for item in SQLALCHEMY_COMPILED + SQLALCHEMY_OTHER if item.name[0] == "_"
    },
}


def test_only_the_adapters_read_these_private_attributes() -> None:
    everything = set().union(*PRIVATE.values())
    for path in LAYER.rglob("*.py"):
        allowed = PRIVATE.get(path.name, set()) if path.parent.name == "db" else set()
        tree = ast.parse(path.read_text())
        used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        stray = (used & everything) - allowed
        # Our own classes define some of these names on themselves (`self._sock` of the tracer).
        stray -= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and _on_self(n)}
        assert not stray, f"{path.relative_to(LAYER)} reads {sorted(stray)}: only the adapter modules may"


def _on_self(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id == "self"


def test_the_engine_connects_with_the_borrowed_socket_timeout(pg: Cluster) -> None:
    """wire.install sets the read timeout through the raw socket (`_usock`) once connected."""
    engine = create_engine(pg.url("postgres"))
    wire.install(engine, socket_timeout_s=7.5)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            assert conn.connection.dbapi_connection._usock.gettimeout() == 7.5  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_the_engine_turns_off_nagle_on_its_tcp_sockets(pg: Cluster) -> None:
    """wire.install sets TCP_NODELAY on the raw socket (`_usock`): a statement written in more than
    one send must not wait for the server's delayed ACK of the first (40 ms on Linux)."""
    engine = create_engine(pg.url("postgres"))
    wire.install(engine)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            sock = conn.connection.dbapi_connection._usock  # type: ignore[union-attr]
            assert sock.family in (socket.AF_INET, socket.AF_INET6), "the test cluster listens on TCP"
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        engine.dispose()


def _initialized(url: str, *, ours: bool) -> tuple[dict[str, Any], set[str]]:
    """A dialect's attributes after its engine's first connect, and the ones that connect set."""
    engine = create_engine(url)
    if ours:
        wire.install(engine)
    seen: dict[str, dict[str, Any]] = {}
    # Around the first connect's initialize (itself a "connect" listener, registered with the engine).
    event.listen(
        engine, "connect", lambda *_: seen.setdefault("before", dict(vars(engine.dialect))), insert=True
    )
    event.listen(engine, "connect", lambda *_: seen.setdefault("after", dict(vars(engine.dialect))))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    before, after = seen["before"], seen["after"]
    changed = {k for k, v in after.items() if k not in before or (before[k] is not v and before[k] != v)}
    changed.discard("_type_memos")  # a cache of result types, filled by whatever statements ran
    return after, changed


def test_the_first_connect_in_one_trip_leaves_the_dialect_as_sqlalchemy_s_own(pg: Cluster) -> None:
    """GIVEN a stock pg8000 engine and one with wire.install (the first connect's questions asked in
    one query) on the same PostgreSQL
    WHEN each connects for the first time
    THEN initialize set the same attributes to the same values on both dialects."""
    stock, stock_set = _initialized(pg.url("postgres"), ours=False)
    ours, ours_set = _initialized(pg.url("postgres"), ours=True)
    assert {
        "server_version_info",
        "default_schema_name",
        "default_isolation_level",
        "_backslash_escapes",
    } <= stock_set
    assert ours_set == stock_set, f"SQLAlchemy {sqlalchemy.__version__}: {sorted(ours_set ^ stock_set)}"
    differing = {k: (stock[k], ours[k]) for k in stock_set if stock[k] != ours[k]}
    assert not differing, (
        f"SQLAlchemy {sqlalchemy.__version__}'s initialize sets these otherwise: {differing}"
    )


def test_the_first_connect_asks_one_query_outside_any_transaction(pg: Cluster) -> None:
    """GIVEN an engine with wire.install
    WHEN it connects for the first time
    THEN the dialect sends one statement (no BEGIN, no ROLLBACK) and the connection is left in no
    transaction."""
    engine = create_engine(pg.url("postgres"))
    wire.install(engine)
    try:
        with wire.watched() as sent:
            raw = engine.raw_connection()
        assert sent == [sa_internals.FIRST_CONNECT]
        assert raw.dbapi_connection._in_transaction is False  # type: ignore[union-attr]
        raw.close()
    finally:
        engine.dispose()
