"""Everything the layer borrows from SQLAlchemy beyond its documented API, in one place.

Reads send their compiled statement on the DB-API cursor themselves (dataapi.db.engine.
ReadConnection), which must bind values and raise errors exactly as SQLAlchemy's execution would.
Each borrowing below is named in tests/integration/test_borrowed.py, which fails naming the SQLAlchemy
upgrade that broke it; the version is pinned in pyproject.toml.

- `SQLCompiler._bind_processors` (private): the compiled statement's per-parameter bind
  processors (type conversions such as JSON serialisation), applied as execution applies them.
- `SQLCompiler.construct_expanded_state` and its `ExpandedState` (`statement`, `parameters`,
  `processors`, `positiontup`): the statement with IN lists expanded, and its parameters in order.
- `DBAPIError.instance` and `Dialect.is_disconnect`: a driver error wrapped as SQLAlchemy wraps it,
  a disconnect marked as one (so the pool discards the connection).
- `DefaultDialect.use_insertmanyvalues_wo_returning`: an executemany INSERT without RETURNING sent
  as multi-row INSERTs (pg8000's executemany is one statement per parameter set).
- `Executable._compile_w_cache` with the arguments `Connection._execute_clauseelement` passes it
  and `Engine._compiled_cache`: a statement compiled into the engine's cache of compiled statements
  before any connection exists (SnapStart priming, dataapi.snapstart), found there by the first
  execution of a statement of the same structure.
- The PostgreSQL dialect's first-connect hooks: `initialize` (public) asks the server through
  `_get_server_version_info`, `_get_default_schema_name`, `get_default_isolation_level` and
  `_set_backslash_escapes` (which sets `_backslash_escapes`), one query each, four round trips in
  every new container. `initialize_in_one_trip` has the engine's dialect answer all four from one
  query (`FIRST_CONNECT`) sent outside any transaction (dataapi.db.wire), so that nothing is left to
  roll back; SQLAlchemy's own `initialize` still sets every attribute from those answers.
- The ORM inserting a many-to-many link row with its link table's `insert()` method
  (dataapi.models.links.LinkTable turns that one into INSERT ... ON CONFLICT DO NOTHING), and
  multi-row INSERTs keeping what a `@compiles` hook wrote after the VALUES.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Engine
from sqlalchemy.dialects.postgresql.pg8000 import PGDialect_pg8000
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True, slots=True)
class Bound:
    """A compiled statement as SQLAlchemy would hand it to the driver."""

    statement: str
    args: tuple[Any, ...]


def bind(compiled: SQLCompiler, params: Mapping[str, Any] | None) -> Bound:
    """The statement text and its positional values, bound as SQLAlchemy binds them (the same
    processors, IN lists expanded)."""
    state = compiled.construct_expanded_state(params, escape_names=False)
    values = state.parameters
    processors: Mapping[str, Callable[[Any], Any]] = compiled._bind_processors  # type: ignore[assignment]
    if state.processors:  # an expanded IN list's values are processed one by one
        processors = {**processors, **state.processors}
    args = tuple(
        processors[name](values[name]) if name in processors else values[name]
        for name in state.positiontup or ()
    )
    return Bound(state.statement, args)


@contextmanager
def raised_as_sqlalchemy(dialect: Dialect, statement: str | None, args: Any, dbapi: Any) -> Iterator[None]:
    """A driver error as SQLAlchemy raises one (DBAPIError, disconnects marked), so that work done
    on the DB-API connection fails exactly as work done through SQLAlchemy does."""
    try:
        yield
    except dialect.loaded_dbapi.Error as exc:
        invalidated = dialect.is_disconnect(exc, dbapi, None)
        raise DBAPIError.instance(
            statement,
            args,
            exc,
            dialect.loaded_dbapi.Error,
            connection_invalidated=invalidated,
            dialect=dialect,
        ) from exc


def compile_into_cache(engine: Engine, statement: Any, keys: Sequence[str] = ()) -> str:
    """Compile `statement` into `engine`'s compiled cache, as its first execution with parameters
    named `keys` (none: only the values the statement holds) would; the SQL it sends."""
    from sqlalchemy.sql import compiler

    dialect = engine.dialect
    compiled = statement._compile_w_cache(
        dialect=dialect,
        compiled_cache=engine._compiled_cache,
        column_keys=sorted(keys),
        for_executemany=False,
        schema_translate_map=None,
        linting=dialect.compiler_linting | compiler.WARN_LINTING,
    )[0]
    return str(compiled.string)


def send_executemany_inserts_as_multirow(engine: Engine) -> None:
    engine.dialect.use_insertmanyvalues_wo_returning = True


FIRST_CONNECT = (
    "select pg_catalog.version(), current_schema(), current_setting('standard_conforming_strings'), "
    "current_setting('transaction_isolation')"
)
"""What SQLAlchemy's PostgreSQL dialect asks a new connection in four queries (`select
pg_catalog.version()`, `select current_schema()`, `show standard_conforming_strings`, `show
transaction isolation level`), asked in one. Plain reads: nothing in it pins RDS Proxy."""

_VERSION = re.compile(r".*(?:PostgreSQL|EnterpriseDB) (\d+)\.?(\d+)?(?:\.(\d+))?(?:\.\d+)?(?:devel|beta)?")
"""SQLAlchemy's parse of `version()` (PGDialect._get_server_version_info)."""

type Ask = Callable[[Any, str], Sequence[Any]]
"""Sends one query on a DB-API connection, outside any transaction, and returns its one row."""


class _OneTripDialect(PGDialect_pg8000):
    """pg8000's dialect whose first-connect hooks read one row asked for all of them."""

    supports_statement_cache = True  # a subclass says so itself, or SQLAlchemy compiles every time
    _dataapi_ask: Ask
    _dataapi_first: Sequence[Any] | None = None

    def initialize(self, connection: Any) -> None:
        self._dataapi_first = self._dataapi_ask(connection.connection.dbapi_connection, FIRST_CONNECT)
        try:
            super().initialize(connection)
        finally:
            del self._dataapi_first

    def _get_server_version_info(self, connection: Any) -> Any:
        if self._dataapi_first is None:
            return super()._get_server_version_info(connection)
        found = _VERSION.match(self._dataapi_first[0])
        if not found:
            raise AssertionError(f"Could not determine version from string {self._dataapi_first[0]!r}")
        return tuple(int(x) for x in found.group(1, 2, 3) if x is not None)

    def _get_default_schema_name(self, connection: Any) -> Any:
        if self._dataapi_first is None:
            return super()._get_default_schema_name(connection)
        return self._dataapi_first[1]

    def _set_backslash_escapes(self, connection: Any) -> None:
        if self._dataapi_first is None:
            super()._set_backslash_escapes(connection)
        else:
            self._backslash_escapes = self._dataapi_first[2] == "off"

    def get_default_isolation_level(self, dbapi_conn: Any) -> Any:
        if self._dataapi_first is None:
            return super().get_default_isolation_level(dbapi_conn)
        return str(self._dataapi_first[3]).upper()


def initialize_in_one_trip(engine: Engine, ask: Ask) -> None:
    """The engine's dialect learns what it asks a new connection from one query, sent by `ask`.

    The dialect of an engine just created (pg8000's, not yet connected) becomes `_OneTripDialect`,
    which adds methods and no state, so nothing compiled or cached for it changes."""
    dialect = engine.dialect
    if type(dialect) is _OneTripDialect:
        return
    if type(dialect) is not PGDialect_pg8000:
        raise TypeError(f"a pg8000 engine was expected, not {type(dialect).__name__}")
    dialect.__class__ = _OneTripDialect
    dialect._dataapi_ask = ask  # type: ignore[attr-defined]
