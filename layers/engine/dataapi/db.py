"""One SQLAlchemy engine per process, created at first use; one transaction per request.

The statement timeout is set with set_config(..., is_local => true) inside the transaction: a
session-level SET would pin RDS Proxy connections.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dataapi.dberrors import RETRYABLE, sqlstate
from dataapi.settings import get_settings

EXTERNAL_CALL = "external_call_made"
"""Set in `session.info` once a call outside the database (Cognito) was made: no retry after it."""

_engine: Engine | None = None
_TIMEOUT = text("SELECT set_config('statement_timeout', :ms, true)")


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = create_engine(
            get_settings().database_url,
            pool_size=1,  # a Lambda container serves one request at a time
            max_overflow=1,
            pool_pre_ping=True,
            pool_recycle=600,
        )
    return _engine


def dispose_engine() -> None:
    global _engine
    if _engine is not None:
        _engine.dispose()
        _engine = None


@contextmanager
def transaction() -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any exception."""
    with Session(get_engine(), expire_on_commit=False) as session, session.begin():
        session.execute(_TIMEOUT, {"ms": str(get_settings().statement_timeout_ms)})
        yield session


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
