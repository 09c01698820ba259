"""Everything the layer borrows from SQLAlchemy beyond its documented API, in one place.

Reads send their compiled statement on the DB-API cursor themselves (dataapi.db.engine.
ReadConnection), which must bind values and raise errors exactly as SQLAlchemy's execution would.
Each borrowing below is named in tests/unit/test_borrowed.py, which fails naming the SQLAlchemy
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
- The ORM inserting a many-to-many link row with its link table's `insert()` method
  (dataapi.models.links.LinkTable turns that one into INSERT ... ON CONFLICT DO NOTHING), and
  multi-row INSERTs keeping what a `@compiles` hook wrote after the VALUES.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Engine
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


def compile_into_cache(engine: Engine, statement: Any) -> None:
    """Compile `statement` (executed without parameters of its own) into `engine`'s compiled
    cache, as its first execution would."""
    from sqlalchemy.sql import compiler

    dialect = engine.dialect
    statement._compile_w_cache(
        dialect=dialect,
        compiled_cache=engine._compiled_cache,
        column_keys=[],
        for_executemany=False,
        schema_translate_map=None,
        linting=dialect.compiler_linting | compiler.WARN_LINTING,
    )


def send_executemany_inserts_as_multirow(engine: Engine) -> None:
    engine.dialect.use_insertmanyvalues_wo_returning = True
