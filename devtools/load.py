"""`make load`: the front end's mixed requests from many containers through a transaction pooler.

In production the functions reach PostgreSQL through RDS Proxy: many Lambda execution environments,
each with its own connection, multiplexed over few server connections. Here:

- a throwaway cluster with a database migrated to head and loaded with `make dev`'s demo data;
- PgBouncer in transaction pooling mode in front of it, at most `--pool-size` (10) server
  connections (devtools/pooler.py);
- `--workers` (50) processes standing in for execution environments: each imports the functions'
  `app.py` as Lambda does, serves one request at a time, and calls `lambda_handler` with API Gateway
  REST events carrying the demo users' claims as the Cognito authorizer passes them (no Cognito
  needed in-process) for `--seconds` (60);
- the mix the front end sends: item lists, an item with its dealer, notes and history, searches,
  filtered pages, who-am-I; notes created linked to items (each item's history told), item state
  changes with a history entry, deletions of notes created earlier.

It prints the requests, the errors by status, p50/p95/p99 latency (all requests and per request
kind) and the peak of server connections PostgreSQL saw; it exits 1 on any error (a status other
than the route's success status, 5xx included) or when the peak exceeds the pool size.

    python -m devtools.load [--seconds 60] [--workers 50] [--pool-size 10]
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from devtools import pooler
from devtools.pgcluster import Cluster

DATABASE = "load"
FUNCTIONS = ("get_items", "create_items", "update_items", "delete_items", "session")
CALLERS = ("admin", "clerk", "anna", "johan")  # demo users: one Admin, three Buyers
STATES = ("In-Standby", "In-Progress", "In-Transit", "Completed")
SUBJECTS_SQL = 'SELECT subject FROM "Item_Notes_Subject" ORDER BY id'
LIST_FIELDS = [
    "id", "article_number", "reference_number", "category", "type", "state", "location",
    "purchased_price", "valuation", "images", "created_at", {"dealer": ["dealer_name", "id"]},
]  # fmt: skip
ITEM_FIELDS = [
    "id", "article_number", "reference_number", "state", "properties", "created_at", "created_by",
    {"dealer": ["id", "dealer_name", "dealer_type", "phone", "raw_address"]},
    {"notes": ["id", "note_content", "creation_time", {"subject": ["id", "subject"]}]},
    {"item_history": ["id", "column_name", "from_value", "to_value", "recorded_time", "type", "user_name"]},
]  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """What every worker knows before it starts: the data's ids and the callers' claims."""

    items: list[int]
    subjects: list[str]
    claims: list[dict[str, str]]
    start_at: float
    stop_at: float


# ---- the requests ---------------------------------------------------------------------------------


@dataclass
class Request:
    kind: str
    function: str
    path: str
    body: Any
    success: int


def _history(column: str, old: Any, new: Any) -> dict[str, Any]:
    entry = {"column_name": column, "from_value": old, "to_value": new, "type": "update",
             "recorded_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    return {"action": "create", "sub_model_name": "Item_History", "values": entry, "append": True}


class Mix:
    """The front end's requests, drawn at random with these weights."""

    WEIGHTS = {"list": 20, "item": 18, "search": 10, "filter": 7, "page2": 5, "me": 5,
               "create_note": 15, "update_item": 13, "delete_note": 7}  # fmt: skip

    def __init__(self, plan: Plan, rng: random.Random) -> None:
        self.plan, self.rng = plan, rng
        self.my_notes: list[int] = []  # created by this worker, deleted later
        self.kinds = list(self.WEIGHTS)
        self.weights = list(self.WEIGHTS.values())

    def next(self) -> Request:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "delete_note" and not self.my_notes:
            kind = "create_note"
        return getattr(self, kind)()

    def _get(self, kind: str, body: dict[str, Any]) -> Request:
        return Request(kind, "get_items", "/api/schemes/get_items", {"model_name": "Item", **body}, 200)

    def list(self) -> Request:
        return self._get(
            "list", {"requested_data": LIST_FIELDS, "query_filters": {}, "per_page": 60, "cursor": None}
        )

    def item(self) -> Request:
        return self._get(
            "item", {"requested_data": ITEM_FIELDS, "query_filters": {"id": self.rng.choice(self.plan.items)}}
        )

    def search(self) -> Request:
        text = f"%{self.rng.randint(0, 99):02d}%"
        filters = {"or-article_number": {"operation": "ilike", "value": text},
                   "or-reference_number": {"operation": "ilike", "value": text}}  # fmt: skip
        fields = ["id", "article_number", "reference_number", "state", {"dealer": ["dealer_name", "id"]}]
        return self._get(
            "search", {"requested_data": fields, "query_filters": filters, "per_page": 60, "cursor": None}
        )

    def filter(self) -> Request:
        filters = {"state": self.rng.choice(STATES),
                   "created_at": {"operation": ">=", "value": f"$now-{self.rng.randint(7, 90)}d"},
                   "notes.subject.subject": self.rng.choice(self.plan.subjects)}  # fmt: skip
        fields = [
            "id",
            "article_number",
            "state",
            "properties",
            {"dealer": ["id", "dealer_name"]},
            "notes.subject.subject",
        ]
        return self._get(
            "filter", {"requested_data": fields, "query_filters": filters, "per_page": 60, "count": True}
        )

    def page2(self) -> Request:
        """A later page of the list (keyset: ids below the cursor)."""
        cursor = self.rng.choice(self.plan.items)
        return self._get("page2", {"requested_data": LIST_FIELDS, "per_page": 60, "cursor": cursor})

    def me(self) -> Request:
        return Request("me", "session", "/api", None, 200)

    def create_note(self) -> Request:
        items = self.rng.sample(self.plan.items, self.rng.randint(1, 3))
        content = f"load note {uuid.uuid4().hex[:12]}"
        subject = self.rng.choice(self.plan.subjects)
        body = {
            "model_name": "Item_Note",
            "reference": "Note",
            "requested_data": ["id", "note_content", "creation_time", {"subject": ["id", "subject"]}, "items.id"],
            "object_values": {
                "note_content": content,
                "creation_time": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                "subject": {"action": "link", "values": {"Item_Notes_Subject": {
                    "query_filters": {"subject": subject}, "link_type": "first_link",
                    "action_if_none": "create_entry", "values_for_none_action": {"subject": subject}}}},
                "items": {"action": "link", "values": {"Item": {
                    "query_filters": {"id": {"operation": "in", "value": items}}, "link_type": "all_link",
                    "also_do": {"item_history": _history("notes", None, content)}}}},
            },
        }  # fmt: skip
        return Request("create_note", "create_items", "/api/schemes/create_items", body, 201)

    def update_item(self) -> Request:
        state = self.rng.choice(STATES)
        body = {
            "model_name": "Item",
            "reference": "Item",
            "requested_data": ["id", "state"],
            "query_filters": {"id": self.rng.choice(self.plan.items)},
            "update_type": "first_match",
            "object_values": {"state": state, "item_history": _history("state", None, state)},
        }
        return Request("update_item", "update_items", "/api/schemes/update_items", body, 201)

    def delete_note(self) -> Request:
        note = self.my_notes.pop(self.rng.randrange(len(self.my_notes)))
        body = {"model_name": "Item_Note", "reference": "Note",
                "object_values": {"query_filters": {"id": note}, "deletion_type": "delete_first"}}  # fmt: skip
        return Request("delete_note", "delete_items", "/api/schemes/delete_items", body, 201)

    def answered(self, request: Request, envelope: dict[str, Any]) -> None:
        if request.kind == "create_note" and envelope.get("status") == 201:
            self.my_notes += [row["id"] for row in envelope["body"]]


# ---- the events -----------------------------------------------------------------------------------


def claims_of(username: str, email: str, sub: str) -> dict[str, str]:
    """The claims API Gateway's Cognito authorizer passes to the function: all strings."""
    now = int(time.time())
    return {
        "sub": sub,
        "email_verified": "true",
        "iss": "https://cognito-idp.eu-north-1.amazonaws.com/eu-north-1_LoadTest",
        "cognito:username": sub,
        "aud": "loadtestclient",
        "token_use": "id",
        "auth_time": str(now),
        "iat": time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(now)),
        "exp": time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(now + 3600)),
        "email": email,
    }


def rest_event(path: str, body: Any, claims: dict[str, str]) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Origin": "http://localhost:5173"}
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "load",
            "path": f"/load{path}",
            "resourcePath": path,
            "httpMethod": "POST",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"claims": copy.deepcopy(claims)},
        },
    }


@dataclass
class FakeContext:
    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 512
    log_group_name: str = "/aws/lambda/load"
    log_stream_name: str = "load"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:eu-north-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


# ---- the workers ----------------------------------------------------------------------------------

Result = tuple[str, int, float]  # request kind, status (0: the handler raised), milliseconds


def _handlers() -> dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]]:
    return {name: importlib.import_module(f"functions.{name}.app").lambda_handler for name in FUNCTIONS}


def worker(index: int, plan: Plan, ready: Any, results: Any) -> None:
    """One execution environment: the handlers imported (before the fork), one request at a time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the handlers' log and metric lines (stdout, as on Lambda)
    handlers = _handlers()
    mix = Mix(plan, random.Random(index))
    out: list[Result] = []
    failures: list[str] = []
    ready.wait()
    time.sleep(max(0.0, plan.start_at - time.time()))
    while time.time() < plan.stop_at:
        request = mix.next()
        sent = rest_event(request.path, request.body, mix.rng.choice(plan.claims))
        context = FakeContext(request.function, sent["requestContext"]["requestId"])
        started = time.perf_counter()
        try:
            response = handlers[request.function](sent, context)
            status = int(response["statusCode"])
            envelope = json.loads(response["body"])
        except Exception:
            status, envelope = 0, {"server_message": traceback.format_exc(limit=3)}
        out.append((request.kind, status, (time.perf_counter() - started) * 1000))
        if status != request.success and len(failures) < 5:
            failures.append(f"{request.kind} -> {status}: {envelope.get('server_message') or envelope}"[:500])
        mix.answered(request, envelope)
    results.put((index, out, failures))


# ---- the run --------------------------------------------------------------------------------------


@contextmanager
def demo_database() -> Iterator[Cluster]:
    """A throwaway cluster with DATABASE migrated to head and `make dev`'s demo data; the demo
    users bound to Cognito subjects `load-<username>`."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from devtools.demo_data import load_demo_data
    from devtools.migrate import upgrade

    cluster = Cluster.create()
    try:
        cluster.sql(f"CREATE DATABASE {DATABASE}")
        url = cluster.url(DATABASE)
        upgrade(url)
        engine = create_engine(url)
        with Session(engine) as session, session.begin():
            load_demo_data(session)
            session.execute(
                text("""UPDATE "User" SET cognito_sub = 'load-' || username WHERE username = ANY(:names)"""),
                {"names": list(CALLERS)},
            )
        engine.dispose()
        yield cluster
    finally:
        cluster.stop(remove=True)


def _plan(cluster: Cluster, seconds: float, start_in: float) -> Plan:
    from sqlalchemy import create_engine, text

    engine = create_engine(cluster.url(DATABASE))
    with engine.connect() as conn:
        items = list(conn.scalars(text('SELECT id FROM "Item" ORDER BY id')))
        subjects = list(conn.scalars(text(SUBJECTS_SQL)))
        users = conn.execute(
            text('SELECT username, email, cognito_sub FROM "User" WHERE username = ANY(:n)'),
            {"n": list(CALLERS)},
        ).all()
    engine.dispose()
    if len(users) != len(CALLERS) or not items or not subjects:
        raise RuntimeError(f"the demo data lacks callers, items or subjects: {users}")
    start_at = time.time() + start_in
    return Plan(items, subjects, [claims_of(*u) for u in users], start_at, start_at + seconds)


class ServerConnections:
    """Polls pg_stat_activity for the server connections to DATABASE (PgBouncer's), keeping the peak."""

    def __init__(self, cluster: Cluster) -> None:
        import pg8000.native

        self.conn = pg8000.native.Connection(
            "postgres", host="127.0.0.1", port=cluster.port, database="postgres"
        )
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            rows = self.conn.run(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND backend_type = 'client backend'",
                d=DATABASE,
            )
            self.peak = max(self.peak, int(rows[0][0]))

    def __enter__(self) -> ServerConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()


def _environment(url: str) -> None:
    """The workers' environment, as a function's on Lambda: DATABASE_URL (the pooler), no user pool,
    no bucket, no AWS endpoint; logs at WARNING."""
    for name in ("COGNITO_USER_POOL_ID", "COGNITO_APP_CLIENT_ID", "FILES_BUCKET", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update({
        "DATABASE_URL": url, "AWS_REGION": "eu-north-1", "AWS_DEFAULT_REGION": "eu-north-1",
        "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_SERVICE_NAME": "dataapi",
        "POWERTOOLS_METRICS_NAMESPACE": "DataApi", "LOG_LEVEL": "WARNING",
    })  # fmt: skip
    from dataapi.db import engine as db
    from dataapi.settings import get_settings

    get_settings.cache_clear()
    db.dispose_engine()


def percentile(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, max(0, round(p / 100 * len(sorted_ms)) - 1))]


@dataclass
class Outcome:
    results: list[Result]
    failures: list[str]
    seconds: float
    peak: int
    pool_size: int

    @property
    def statuses(self) -> Counter[int]:
        return Counter(status for _, status, _ in self.results)

    @property
    def errors(self) -> Counter[int]:
        """Answers other than the route's success status, by status (0: the handler raised)."""
        return Counter(status for kind, status, _ in self.results if status != SUCCESS[kind])

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 or status == 0)

    @property
    def ok(self) -> bool:
        return (
            bool(self.results) and not self.errors and not self.server_errors and self.peak <= self.pool_size
        )

    def report(self) -> str:
        all_ms = sorted(ms for _, _, ms in self.results)
        by_kind: dict[str, list[float]] = defaultdict(list)
        for kind, _, ms in self.results:
            by_kind[kind].append(ms)

        def figures(ms: list[float]) -> str:
            return f"p50 {percentile(ms, 50):7.1f}  p95 {percentile(ms, 95):7.1f}  p99 {percentile(ms, 99):7.1f} ms"

        n, errors = len(self.results), self.errors
        lines = [
            f"requests        {n} in {self.seconds:g} s ({n / self.seconds:.1f}/s)",
            "statuses        " + ", ".join(f"{s}: {k}" for s, k in sorted(self.statuses.items())),
            "errors          "
            + (", ".join(f"{s}: {k}" for s, k in sorted(errors.items())) if errors else "0"),
            f"5xx             {self.server_errors}",
            f"latency         {figures(all_ms)}  (mean {statistics.fmean(all_ms) if all_ms else 0:.1f} ms)",
        ]
        for kind in Mix.WEIGHTS:
            times = sorted(by_kind.get(kind, []))
            lines.append(f"  {kind:<13} {len(times):6d}  {figures(times)}")
        lines.append(f"server conns    peak {self.peak} (the pooler allows {self.pool_size})")
        lines += [f"  failure: {f}" for f in self.failures[:10]]
        lines.append("PASS: 0 errors, 0 5xx" if self.ok else "FAIL")
        return "\n".join(lines)


SUCCESS = {
    kind: (201 if kind in ("create_note", "update_item", "delete_note") else 200) for kind in Mix.WEIGHTS
}


def run(seconds: float, workers: int, pool_size: int) -> Outcome:
    say = lambda message: print(f"[load] {message}", file=sys.stderr, flush=True)  # noqa: E731
    with demo_database() as cluster:
        bouncer = pooler.Pooler.start(cluster.port, pool_size=pool_size, server_idle_timeout=60)
        try:
            say(f"{pooler.version()} on 127.0.0.1:{bouncer.port}: pool_mode = transaction, at most {pool_size}"
                f" server connections; {workers} worker processes, {seconds:g} s")  # fmt: skip
            _environment(bouncer.url(DATABASE))
            _handlers()  # imported once, before the fork: every worker starts with them, as a warm image
            context = multiprocessing.get_context("fork")
            ready, results = context.Barrier(workers + 1), context.Queue()
            plan = _plan(cluster, seconds, start_in=3.0 + workers * 0.05)
            processes = [
                context.Process(target=worker, args=(i, plan, ready, results)) for i in range(workers)
            ]
            for process in processes:
                process.start()
            got: list[Result] = []
            failures: list[str] = []
            try:
                ready.wait(120)
                with ServerConnections(cluster) as connections:
                    for _ in processes:
                        _index, out, failed = results.get(timeout=seconds + 300)
                        got += out
                        failures += failed
                for process in processes:
                    process.join(30)
            finally:
                for process in processes:
                    if process.is_alive():
                        process.kill()
                        process.join()
            return Outcome(got, failures, seconds, connections.peak, pool_size)
        finally:
            bouncer.stop(remove=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60, help="how long the workers send requests")
    parser.add_argument("--workers", type=int, default=50, help="worker processes (execution environments)")
    parser.add_argument("--pool-size", type=int, default=10, help="server connections the pooler allows")
    args = parser.parse_args(argv)
    outcome = run(args.seconds, args.workers, args.pool_size)
    print(outcome.report(), flush=True)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
