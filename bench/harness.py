"""What every benchmark section shares: a throwaway database, a handler invoker, statement counts."""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event

from dataapi.db import wire
from devtools.migrate import upgrade
from devtools.pgcluster import Cluster


@contextmanager
def database() -> Iterator[str]:
    """A migrated database on a cluster of its own; DATABASE_URL points the layer at it."""
    cluster = Cluster.create()
    try:
        cluster.sql("CREATE DATABASE bench")
        url = cluster.url("bench")
        upgrade(url)
        os.environ["DATABASE_URL"] = url
        from dataapi.db import engine as db
        from dataapi.settings import get_settings

        get_settings.cache_clear()
        db.dispose_engine()
        _caller(url)
        count_round_trips(db.get_engine())
        yield url
        db.dispose_engine()
    finally:
        cluster.stop(remove=True)


def _caller(url: str) -> None:
    """The Admin whose claims `api_event` carries: every request loads its caller."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from dataapi.models import Role, User

    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        admin = Role(role="Admin", key="admin")
        session.add(
            User(
                username="admin", email="admin@example.com", phone="-", cognito_sub="bench-sub", roles=[admin]
            )
        )
    engine.dispose()


@dataclass
class Context:
    function_name: str = "bench"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-north-1:000000000000:function:bench"
    aws_request_id: str = ""
    log_group_name: str = "/aws/lambda/bench"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def api_event(path: str, body: Any) -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "Origin": "http://localhost:5173"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "body": json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "bench",
            "resourcePath": path,
            "httpMethod": "POST",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {
                "claims": {"sub": "bench-sub", "email": "admin@example.com", "cognito:username": "admin"}
            },
        },
    }


def request(handler: Callable[[dict, Any], dict], path: str, body: Any) -> Callable[[], dict[str, Any]]:
    """A request whose event is built beforehand: Lambda hands the function its event already
    parsed, so building it is part of neither the function's time nor the baseline's."""
    event, context = api_event(path, body), Context(aws_request_id=str(uuid.uuid4()))

    def send() -> dict[str, Any]:
        response = handler(event, context)
        if response["statusCode"] >= 300:
            raise RuntimeError(f"bench request failed: {response['body'][:300]}")
        return response

    return send


def invoke(handler: Callable[[dict, Any], dict], path: str, body: Any) -> dict[str, Any]:
    return request(handler, path, body)()


class Statements:
    """Counts the statements connections send (dataapi.db.wire), split into fixed overhead and data
    statements. Counted at the driver: reads send theirs on the DB-API cursor, past SQLAlchemy."""

    OVERHEAD = ("set_config('statement_timeout'", "LEFT OUTER JOIN user_roles")  # timeout, the caller

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __enter__(self) -> Statements:
        self._watch = wire.watched()
        self.seen = self._watch.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watch.__exit__(None, None, None)

    @property
    def overhead(self) -> int:
        return sum(1 for s in self.seen if any(marker in s for marker in self.OVERHEAD))

    @property
    def data(self) -> int:
        return len(self.seen) - self.overhead


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def paired_medians(a: Callable[[], object], b: Callable[[], object], runs: int) -> tuple[float, float]:
    """Medians of a and b, run interleaved so that machine noise hits both alike."""
    for _ in range(3):
        a()
        b()
    sa, sb = [], []
    for _ in range(runs):
        start = time.perf_counter()
        a()
        sa.append(time.perf_counter() - start)
        start = time.perf_counter()
        b()
        sb.append(time.perf_counter() - start)
    return statistics.median(sa) * 1000, statistics.median(sb) * 1000


class RoundTrips:
    """Round trips to PostgreSQL, counted at the socket: pg8000 buffers its protocol messages in a
    stream over the socket and flushes it when it needs an answer, so each flush is one trip."""

    def __init__(self) -> None:
        self.flushes = 0
        self.latency_s = 0.0  # added to every trip while `latency()` is on

    def wrap(self, dbapi_connection: Any) -> None:
        if not isinstance(dbapi_connection._sock, _CountingStream):
            dbapi_connection._sock = _CountingStream(dbapi_connection._sock, self)

    @contextmanager
    def measure(self) -> Iterator[list[int]]:
        """Yields a one-element list that holds the trips made inside the block when it ends."""
        start = self.flushes
        got = [0]
        try:
            yield got
        finally:
            got[0] = self.flushes - start

    @contextmanager
    def latency(self, seconds: float) -> Iterator[None]:
        """Every trip inside the block waits `seconds` more, as crossing RDS Proxy does on Lambda."""
        self.latency_s = seconds
        try:
            yield
        finally:
            self.latency_s = 0.0


class _CountingStream:
    def __init__(self, stream: Any, trips: RoundTrips) -> None:
        self._stream = stream
        self._trips = trips

    def flush(self) -> None:
        self._trips.flushes += 1
        if self._trips.latency_s:
            time.sleep(self._trips.latency_s)
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


TRIPS = RoundTrips()


def count_round_trips(engine: Engine) -> None:
    """Count the trips of every connection the engine opens from now on (its pool is emptied)."""
    engine.dispose()
    event.listen(engine, "connect", lambda dbapi_connection, _record: TRIPS.wrap(dbapi_connection))
