"""pg8000 with one round trip per statement (see the README, "Round trips").

pg8000 (1.31) sends each parameterised statement in three exchanges with the server (Parse/Sync,
Describe/Sync, Bind/Execute/Sync), COMMIT and ROLLBACK the same way, and BEGIN as a query of its
own before the first statement. On Lambda every exchange crosses RDS Proxy. `Connection` is
pg8000's DB-API connection with three methods overridden, nothing else:

- `execute_unnamed` writes Parse, Describe, Bind, Execute and Sync and flushes once. The messages
  and their answers are the ones pg8000 sends and reads; only the waits in between are gone (the
  server answers every message in order, and after an error skips to the Sync, so one
  ReadyForQuery closes the statement either way).
- The BEGIN pg8000 sends before the first statement of a transaction is held back and written in
  front of that statement, in the same flush. It is `begin_sql`, which may carry more statements for
  the start of every transaction (dataapi.db.engine folds the statement timeout into it); the rows
  its last SELECT answered are `begin_rows` once the first statement ran.
- `commit` and `rollback` are simple queries: one exchange each. After `commit_with_next()` the
  COMMIT goes out in the same flush as the next statement instead (a read's last statement).
- Its cursors convert a statement's positional placeholders (`%s` to `$1`, a scan of every
  character) once per statement text, not at every execution.
- It counts the statements its cursors execute (`statements`; an executemany counts one per
  parameter set; BEGIN, COMMIT and ROLLBACK are not counted), and `watched()` lists their text:
  reads run on the DB-API cursor (dataapi.db.engine.ReadConnection), where SQLAlchemy's execution
  events do not see them.

`install` makes an engine open these connections (SQLAlchemy's `do_connect` event), turns off
Nagle's algorithm on their TCP sockets (`no_delay`), bounds their socket reads, pings a pooled
connection only when it sat idle for a while or the server wrote to it while idle (it then ended
it: a dead connection is replaced before the request uses it), resets `begin_sql` to a plain
BEGIN at each checkout, has SQLAlchemy send executemany INSERTs as multi-row INSERTs, and has the
dialect's first-connect questions asked in one query (`ask_outside_transaction`;
dataapi.db.sqlalchemy_internals.initialize_in_one_trip). A connection given no `ssl_context` (a
DATABASE_URL) negotiates TLS as pg8000 would, with a context built once per process (when a
server first offers TLS) instead of one per connection.

This is the one module of the layer that borrows pg8000's internals (the version is pinned in
pyproject.toml; tests/integration/test_borrowed.py names each borrowing and fails naming the pg8000
upgrade that broke it):

- `pg8000.core`: `_flush` and `_write` (write to and flush the socket's buffer), the message codes
  and constants `PARSE`, `DESCRIBE`, `BIND`, `EXECUTE_MSG`, `SYNC_MSG`, `STATEMENT`, `NULL_BYTE`, and
  `Context` (what a statement's answers are read into).
- `pg8000.converters.make_params` and `pg8000.dbapi.convert_paramstyle`: values to wire text, and
  `%s` placeholders to `$1`, as pg8000 does them.
- A connection's `_sock` (its buffered socket), `_usock` (the raw socket, for the read timeout),
  `_in_transaction`, `_client_encoding`, `_send_message`, `send_QUERY`, `handle_messages`,
  `py_types`, and the `execute_simple` / `execute_unnamed` methods overridden here.
- A cursor's `_c` (its connection), `_context`, `_row_iter`, `_input_oids` and `input_types`, set
  as pg8000's own `Cursor.execute` sets them.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from pg8000 import dbapi
from pg8000.converters import make_params
from pg8000.core import (
    BIND,
    DESCRIBE,
    EXECUTE_MSG,
    NULL_BYTE,
    PARSE,
    STATEMENT,
    SYNC_MSG,
    Context,
    _flush,
    _write,
)
from pg8000.exceptions import InterfaceError
from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

from dataapi.db import sqlalchemy_internals

BEGIN = "begin transaction"  # what pg8000's cursor sends before the first statement of a transaction
PING_AFTER_IDLE_S = 30.0
"""A pooled connection idle longer than this is pinged at checkout (one trip); a dead one is replaced."""

_CHECKED_IN = "dataapi_checked_in"


def _u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def _i32(n: int) -> bytes:
    return n.to_bytes(4, "big", signed=True)


_WATCHERS: list[list[str]] = []


@contextmanager
def watched() -> Iterator[list[str]]:
    """The text of every statement any connection sends inside the block (tests, benchmarks)."""
    seen: list[str] = []
    _WATCHERS.append(seen)
    try:
        yield seen
    finally:  # by identity: list.remove compares by value, and two watchers may hold equal lists
        del _WATCHERS[next(i for i, w in enumerate(_WATCHERS) if w is seen)]


def _sent(conn: Any, operation: str) -> None:
    if isinstance(conn, Connection):
        conn.statements += 1
    for seen in _WATCHERS:
        seen.append(operation)


@lru_cache(maxsize=512)
def _positional(style: str, statement: str) -> str:
    return dbapi.convert_paramstyle(style, statement, ())[0]


def convert_ahead(statement: str) -> None:
    """Convert `statement`'s placeholders now, so its first execution finds them converted
    (SnapStart priming, dataapi.snapstart: a scan of every character, about 0.3 ms a read)."""
    _positional(dbapi.paramstyle, statement)


class Cursor(dbapi.Cursor):
    _input_oids: Any
    input_types: list[Any]

    def execute(self, operation: str, args: Any = (), stream: Any = None) -> None:
        """pg8000's Cursor.execute, with the placeholder conversion cached per statement text."""
        _sent(self._c, operation)
        style = dbapi.paramstyle
        if style not in ("format", "qmark", "numeric") or (len(args) == 0 and stream is None):
            super().execute(operation, args, stream)
            return
        conn = self._c
        if conn is None or conn._sock is None:
            raise InterfaceError("Cursor closed" if conn is None else "connection is closed")
        if not conn._in_transaction and not conn.autocommit:
            conn.execute_simple(BEGIN)
        self._context = conn.execute_unnamed(
            _positional(style, operation), vals=args, oids=self._input_oids, stream=stream
        )
        self._row_iter = None if self._context.rows is None else iter(self._context.rows)
        self._input_oids = ()
        self.input_types = []


class Connection(dbapi.Connection):
    statements = 0
    begin_sql = BEGIN
    begin_rows: list[Any] | None = None
    _begin_held = False
    _commit_next = False

    def commit_with_next(self) -> None:
        """Send COMMIT right behind the next statement: it ends the transaction."""
        self._commit_next = True

    def cursor(self) -> Cursor:
        return Cursor(self)

    # ---- BEGIN, held back until the first statement ---------------------------------------

    def _send_held_begin(self) -> Context | None:
        if not self._begin_held:
            return None
        self._begin_held = False
        self.send_QUERY(self.begin_sql)
        context = Context(self.begin_sql)
        self.begin_rows = context.rows = []  # filled as the answer is read
        return context

    def _send_commit_if_asked(self) -> Context | None:
        if not self._commit_next:
            return None
        self._commit_next = False
        self.send_QUERY("commit")
        return Context("commit")

    def _answers(self, begin: Context | None, context: Context, commit: Context | None = None) -> Context:
        """Read the answers to what one flush sent, in order, and raise the first error: of the
        held BEGIN, of the statement, of a COMMIT sent behind it (after a failed statement the
        server answers that COMMIT with ROLLBACK, an error pg8000 reports that is not the cause)."""
        first: Exception | None = None
        for ctx in (begin, context, commit):
            if ctx is None:
                continue
            try:
                self.handle_messages(ctx)
            except Exception as exc:
                if ctx.error is None:  # the connection itself failed: nothing more to read
                    raise
                first = first or exc
        if first is not None:
            raise first
        return context

    # ---- statements -----------------------------------------------------------------------

    def execute_simple(self, statement: str) -> Context:
        if statement == BEGIN and not self._in_transaction:
            self._begin_held = True
            self.begin_rows = None
            return Context(statement)
        begin = self._send_held_begin()
        context = Context(statement)
        self.send_QUERY(statement)
        commit = self._send_commit_if_asked()
        _flush(self._sock)
        return self._answers(begin, context, commit)

    def execute_unnamed(self, statement: str, vals: Any = (), oids: Any = (), stream: Any = None) -> Context:
        # Every message is built before the first is written: a value the driver refuses (or
        # cannot encode) raises with nothing sent, so the connection stays in step.
        encoding = self._client_encoding
        parse = bytearray(NULL_BYTE + statement.encode(encoding) + NULL_BYTE + _u16(len(oids)))
        for oid in oids:
            parse += _i32(0 if oid == -1 else oid)
        params = make_params(self.py_types, vals)
        bind = bytearray(NULL_BYTE + NULL_BYTE + _u16(0) + _u16(len(params)))
        for value in params:
            if value is None:
                bind += _i32(-1)
            else:
                encoded = value.encode(encoding)
                bind += _i32(len(encoded)) + encoded
        bind += _u16(0)  # every result column as text
        begin = self._send_held_begin()
        context = Context(statement, stream=stream)
        self._send_message(PARSE, parse)
        self._send_message(DESCRIBE, STATEMENT + NULL_BYTE)
        self._send_message(BIND, bind)
        _write(self._sock, EXECUTE_MSG)
        _write(self._sock, SYNC_MSG)
        commit = self._send_commit_if_asked()
        _flush(self._sock)
        return self._answers(begin, context, commit)

    def commit(self) -> None:
        self._begin_held = self._commit_next = False
        if self._in_transaction:  # else no statement was sent: nothing to commit
            self.execute_simple("commit")

    def rollback(self) -> None:
        self._begin_held = self._commit_next = False
        if self._in_transaction:
            self.execute_simple("rollback")


def no_delay(dbapi_connection: Any) -> None:
    """Turn off Nagle's algorithm on a TCP connection's socket, as libpq does.

    A statement larger than the socket buffer (a multi-row INSERT, a batch's link lookup) leaves
    the buffered writer in more than one send; with Nagle on, the last small segment waits for the
    server's ACK of the one before, which the server delays (up to 40 ms on Linux) while it waits
    for the rest of the message: a stall per large statement, measured at 40-50 ms each."""
    sock = dbapi_connection._usock
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@lru_cache(maxsize=1)
def prefer_tls_context() -> ssl.SSLContext:
    """The TLS context of a connection given no `ssl_context`: TLS when the server offers it,
    unverified, as pg8000's. pg8000 builds one for every connection, before it asks the server,
    loading the system's CA certificates (about 20 ms) that an unverified context never reads.
    Built here once per process, without them, when a server first offers TLS (or before a
    SnapStart snapshot, dataapi.snapstart)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _prefer_tls_socket(cparams: dict[str, Any]) -> socket.socket:
    """The socket pg8000 would open for `cparams` without an `ssl_context` (a TCP connection that
    asks for TLS and uses it if the server agrees), with the context built once."""
    host, port = cparams.get("host", "localhost"), cparams.get("port", 5432)
    timeout, source = cparams.get("timeout"), cparams.get("source_address")
    try:
        sock = socket.create_connection((host, port), timeout, source)
    except OSError as e:
        raise InterfaceError(
            f"Can't create a connection to host {host} and port {port} "
            f"(timeout is {timeout} and source_address is {source})."
        ) from e
    try:
        if cparams.get("tcp_keepalive", True):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.sendall(_i32(8) + _i32(80877103))  # SSLRequest
        if sock.recv(1) == b"S":
            return prefer_tls_context().wrap_socket(sock, server_hostname=host)
        return sock
    except BaseException:
        sock.close()
        raise


def ask_outside_transaction(dbapi_connection: Any, sql: str) -> list[Any]:
    """The one row `sql` answers, sent as a simple query on a connection in no transaction: one
    round trip, no BEGIN, nothing to roll back after (a new connection's first-connect questions)."""
    if dbapi_connection._in_transaction:
        raise RuntimeError("asked outside a transaction on a connection in one")
    _sent(dbapi_connection, sql)
    rows = dbapi_connection.execute_simple(sql).rows
    if not rows or len(rows) != 1:
        raise RuntimeError(f"one row was expected from {sql!r}")
    return list(rows[0])


def server_wrote(dbapi_connection: Any) -> bool:
    """Whether the server wrote to a connection that sat idle, which it does only to end it: a
    terminated backend's FATAL message (a restart, a failover), or the end of the stream (a proxy's
    idle timeout). Asked of the socket without waiting, so a healthy connection costs no trip."""
    sock = dbapi_connection._usock
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed, or no longer a socket
        return True
    return bool(readable)


def install(engine: Engine, *, socket_timeout_s: float | None = None) -> None:
    """Open `Connection`s, bound their socket reads by `socket_timeout_s` once connected (the
    connect itself is bounded by the `timeout` connect argument), ping after idle only, and reset
    `begin_sql` at every checkout.

    Register it after any other `do_connect` listener that fills in connect parameters (the first
    listener that returns a connection wins). The engine's own pre-ping must be off.
    """

    # pg8000's executemany is one statement per parameter set; SQLAlchemy's "insertmanyvalues"
    # turns an executemany INSERT (association rows, say) into multi-row INSERTs instead.
    sqlalchemy_internals.send_executemany_inserts_as_multirow(engine)
    # SQLAlchemy's first connect asks the server four questions, a query each, then rolls back:
    # asked in one query outside any transaction instead, one round trip.
    sqlalchemy_internals.initialize_in_one_trip(engine, ask_outside_transaction)

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> Connection:
        if cparams.get("ssl_context") is None and not {"sock", "unix_sock"} & cparams.keys():
            cparams = {**cparams, "sock": _prefer_tls_socket(cparams), "ssl_context": False}
        return Connection(*cargs, **cparams)

    @event.listens_for(engine, "connect")
    def _no_delay(dbapi_connection: Any, _record: Any) -> None:
        no_delay(dbapi_connection)

    if socket_timeout_s is not None:

        @event.listens_for(engine, "connect")
        def _socket_timeout(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection._usock.settimeout(socket_timeout_s)

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get(_CHECKED_IN)
        if idle_since is not None and (
            time.monotonic() - idle_since > PING_AFTER_IDLE_S or server_wrote(dbapi_connection)
        ):
            try:
                dbapi_connection.execute_simple(";")  # outside any transaction: no BEGIN
            except Exception as exc:
                raise DisconnectionError("a pooled connection did not answer") from exc
        dbapi_connection.begin_sql = BEGIN

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()
