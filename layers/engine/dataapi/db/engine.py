"""One SQLAlchemy engine per process, created at first use; one transaction per request.

Connections are dataapi.db.wire's (pg8000 with one round trip per statement). A request's statement
timeout is set with set_config(..., is_local => true) in the query that begins its transaction,
sent with the transaction's first statement: no statement of its own, and a session-level SET
would pin RDS Proxy connections.

Writes run in an ORM session (`transaction()`). Reads build their rows in SQL and need no ORM:
they run their compiled statement on the DB-API connection (`ReadConnection`), in a session's
transaction or in one of their own on a pooled connection (`read_transaction()`). A Core
Connection and SQLAlchemy's execution context cost a warm read about 0.3 ms of Python.
"""

import json
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Dialect, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from dataapi.db import rdsauth, sqlalchemy_internals, wire
from dataapi.db.sqlstate import RETRYABLE, sqlstate
from dataapi.errors import ApiError, Unavailable
from dataapi.settings import Settings, get_settings
from dataapi.telemetry import count

EXTERNAL_CALL = "external_call_made"
"""Set in `session.info` once a call outside the database (Cognito) was made: no retry after it."""

_engine: Engine | None = None


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = _create(get_settings())
    return _engine


def _create(settings: Settings) -> Engine:
    """DATABASE_URL as given (local), or in AWS: RDS Proxy with IAM tokens, or a Secrets Manager secret.

    No connect option issues a session-level SET: that would pin RDS Proxy connections.
    """
    # A Lambda container serves one request at a time: one connection, one spare. No pre-ping:
    # dataapi.db.wire pings a connection only after it sat idle.
    pool = {"pool_size": 1, "max_overflow": 1, "pool_pre_ping": False, "pool_recycle": 600}
    timeout = {"timeout": settings.db_connect_timeout_ms / 1000}  # TCP connect and the handshake
    if not settings.db_host and not settings.db_secret_arn:
        engine = create_engine(settings.database_url, connect_args=timeout, **pool)
    else:
        url = URL.create("postgresql+pg8000", username=settings.db_user, host=settings.db_host,
                         port=settings.db_port, database=settings.db_name)  # fmt: skip
        args = {"ssl_context": ssl.create_default_context(), **timeout}
        engine = create_engine(url, connect_args=args, **pool)
        event.listen(engine, "do_connect", _credentials(settings))
    # After _credentials: the first do_connect that connects wins. Reads wait past the statement
    # timeout (the server's own error comes first) but never forever: a database that stops
    # answering is a 503, not a hung function.
    wire.install(engine, socket_timeout_s=settings.socket_timeout_ms / 1000)
    return engine


def _begin_with_timeout(dbapi_connection: wire.Connection, also: str) -> None:
    """The request's transaction begins with its statement timeout (read from the settings each
    time), in the query that sends BEGIN with the first statement: no statement of its own.
    `also`, an SQL expression, is selected by that query too (see `begin_value`). Other users of
    the engine (migrations) begin without either."""
    ms = int(get_settings().statement_timeout_ms)
    select = f"SELECT set_config('statement_timeout', '{ms}', true)" + (f", {also}" if also else "")
    dbapi_connection.begin_sql = f"{wire.BEGIN}; {select}"


def _wire(dbapi_connection: Any) -> wire.Connection:
    assert isinstance(dbapi_connection, wire.Connection)  # get_engine() installs it
    return dbapi_connection


@dataclass(frozen=True, slots=True)
class ReadConnection:
    """A DB-API connection in a transaction, for reads: they send compiled statements themselves."""

    dbapi: wire.Connection
    dialect: Dialect

    def rows(self, compiled: SQLCompiler, params: dict[str, Any] | None) -> list[list[Any]]:
        """The statement's rows, its values bound as SQLAlchemy binds them; a driver error is
        raised as SQLAlchemy raises it (DBAPIError)."""
        bound = sqlalchemy_internals.bind(compiled, params)
        cursor = self.dbapi.cursor()
        with self.errors(bound.statement, bound.args):
            cursor.execute(bound.statement, bound.args)
            return cursor.fetchall()

    @contextmanager
    def errors(self, statement: str, args: Any) -> Iterator[None]:
        with sqlalchemy_internals.raised_as_sqlalchemy(self.dialect, statement, args, self.dbapi):
            yield


def reading(session: Session | ReadConnection) -> ReadConnection:
    """What a read runs on: its own connection, or its session's (in the session's transaction)."""
    if isinstance(session, ReadConnection):
        return session
    connection = session.connection()
    return ReadConnection(_wire(connection.connection.dbapi_connection), connection.dialect)


def begin_value(session: Session | ReadConnection) -> Any:
    """The value of the `also` expression of the transaction, as the query that began it answered
    (that query is sent with the first statement: ask after that statement ran)."""
    rows = reading(session).dbapi.begin_rows
    if not rows:
        raise RuntimeError("the transaction has not begun: no statement ran yet")
    return rows[0][1]


def begin_also_with(session: Session, statement: str) -> None:
    """`statement` sent in the query that begins the transaction, behind its timeout (no round
    trip of its own; dataapi.idempotency claims its key so). Call it before the transaction's
    first statement; its row is `begun_row` once that statement ran."""
    dbapi = reading(session).dbapi
    dbapi.begin_sql = f"{dbapi.begin_sql}; {statement}"


def begun_row(session: Session) -> Any:
    """The row the `begin_also_with` statement answered (ask after the first statement ran)."""
    rows = reading(session).dbapi.begin_rows
    if not rows or len(rows) < 2:
        raise RuntimeError("the transaction has not begun with a statement of its own")
    return rows[-1]


def _credentials(settings: Settings) -> Any:
    def fill(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        # A secret names the host too (a proxy with secret auth, or the database itself).
        if settings.db_secret_arn:
            secret = _secret(settings.db_secret_arn, settings.aws_region)
            cparams.update(
                user=secret["username"],
                password=secret["password"],
                host=settings.db_host or secret["host"],
                port=int(secret.get("port", settings.db_port)),
                database=settings.db_name or secret.get("dbname", "postgres"),
            )
        else:  # IAM: a token per new connection (tokens live 15 minutes), signed locally
            cparams["password"] = _iam_token(settings)

    return fill


def _iam_token(settings: Settings) -> str:
    """Signed from the function's credentials without boto3 (dataapi.db.rdsauth); boto3 when the
    environment holds no credentials (a profile, outside Lambda)."""
    host, port, user, region = settings.db_host or "", settings.db_port, settings.db_user, settings.aws_region
    made = rdsauth.token(host, port, user, region)
    if made is not None:
        return made
    return _rds(region).generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user, Region=region)


@lru_cache(maxsize=1)
def _rds(region: str) -> Any:
    import boto3

    return boto3.client("rds", region_name=region)


@lru_cache(maxsize=4)
def _secret(arn: str, region: str) -> dict[str, Any]:
    import boto3

    return json.loads(
        boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=arn)["SecretString"]
    )


def forget_connections() -> None:
    """Drop the pool's connections without a word to the server, and the AWS clients made for
    connecting (credentials and sockets of their own), keeping the engine: a SnapStart restore
    (dataapi.snapstart), where any socket in the snapshot is another container's or dead. The
    engine's dialect stays, and with it the statements compiled for it."""
    if _engine is not None:
        _engine.dispose(close=False)
    _rds.cache_clear()
    _secret.cache_clear()


def dispose_engine() -> None:
    global _engine
    if _engine is not None:
        _engine.dispose()
        _engine = None


@contextmanager
def transaction(also: str = "") -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any exception.
    `also`: an SQL expression the transaction's first query selects (`begin_value`)."""
    counted = _Counted()
    try:
        with Session(get_engine(), expire_on_commit=False) as session, session.begin():
            connection = _connected(session.connection)
            with _guarded(connection, counted.on(connection.connection.dbapi_connection), also):
                yield session
    finally:
        counted.publish()  # after the commit, which may flush more statements


@contextmanager
def read_transaction(also: str = "") -> Iterator[ReadConnection]:
    """`transaction()` for a read: a pooled DB-API connection, with neither a Session nor a Core
    Connection."""
    engine = get_engine()
    with sqlalchemy_internals.raised_as_sqlalchemy(engine.dialect, None, None, None):
        pooled = _connected(engine.raw_connection)
    counted = _Counted()
    try:
        dbapi_connection = counted.on(pooled.dbapi_connection)
        with _guarded(pooled, dbapi_connection, also):
            connection = ReadConnection(dbapi_connection, engine.dialect)
            yield connection
            with connection.errors("commit", ()):
                dbapi_connection.commit()  # nothing left to do when the COMMIT went with the page
    finally:
        pooled.close()
        counted.publish()


class _Counted:
    """The statements a transaction's connection executed, published as the Statements metric."""

    def __init__(self) -> None:
        self.dbapi: wire.Connection | None = None
        self.start = 0

    def on(self, dbapi_connection: Any) -> wire.Connection:
        self.dbapi = _wire(dbapi_connection)
        self.start = self.dbapi.statements
        return self.dbapi

    def publish(self) -> None:
        count("Statements", 0 if self.dbapi is None else self.dbapi.statements - self.start)


def _connected[C](connect: Callable[[], C]) -> C:
    try:
        return connect()
    except OSError as exc:  # the driver's socket timed out or broke while connecting, unwrapped
        raise _unavailable() from exc


@contextmanager
def _guarded(connection: Any, dbapi_connection: wire.Connection, also: str) -> Iterator[None]:
    """The transaction's first query set up; on any exception the connection (a Core connection or
    a pooled one) is discarded (below), before the transaction ends, and a broken or timed-out
    socket is the database unavailable."""
    try:
        _begin_with_timeout(dbapi_connection, also)
        yield
    except BaseException as exc:
        _discard(connection, exc)
        if isinstance(exc, OSError):
            raise _unavailable() from exc
        raise


def _unavailable() -> Unavailable:
    return Unavailable(
        "The database is not available right now; try again shortly.", detail="DatabaseUnavailable"
    )


def commit_with_next(session: Session | ReadConnection) -> None:
    """The transaction's next statement is its last: COMMIT travels with it (no trip of its own;
    the transaction's own commit then has nothing left to do). For reads, and for the statement
    that stores a keyed write's answer (dataapi.idempotency)."""
    reading(session).dbapi.commit_with_next()


def _discard(connection: Any, exc: BaseException) -> None:
    """Defence in depth: a connection in use when anything failed is closed, never pooled again.

    A driver that failed half-way through a message leaves the connection out of protocol sync:
    pooled, it would hand later statements earlier statements' results. Refusals our own code
    raises between statements (4xx domain errors) leave it in a known state and keep it.
    """
    if isinstance(exc, ApiError) and exc.status < 500:
        return
    with suppress(Exception):
        connection.invalidate()


def run_in_transaction[T](work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction; a serialization failure or deadlock is retried once."""
    for attempt in (1, 2):
        session_info: dict = {}
        try:
            with transaction() as session:
                session_info = session.info
                return work(session)
        except DBAPIError as exc:
            if attempt == 2 or sqlstate(exc) not in RETRYABLE or session_info.get(EXTERNAL_CALL):
                raise
    raise AssertionError("unreachable")
