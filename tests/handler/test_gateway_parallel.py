"""Parallel requests through the local gateway each get their own answer.

The React client sends several requests at the same moment (a session check with a list read,
three note batches together). Lambda runs one request per execution environment; the local
gateway runs every function in this process (where Powertools keeps the current event on the
resolver's router class) or in several worker processes per function. Here a few hundred mixed
requests go over HTTP (loopback, a bounded pool of client threads) to the real template's routes,
and every answer is checked against the request that caused it; and a burst of 32 clients at
once loses no connection.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataapi.models import Item, Item_Note
from devtools.gateway import Gateway, make_server
from devtools.template import TEMPLATE
from tests.handler.session_support import ANNA, ANNA_PASSWORD, World
from tests.handler.support import ORIGIN

BO, BO_PASSWORD = "bo@example.com", "Bo-pass-2025!x"
REQUESTS = 320
CLIENTS = 12

Check = Callable[[int, dict[str, Any]], None]


@pytest.fixture(params=["thread", "process"])
def served(request: pytest.FixtureRequest, world: World) -> Iterator[tuple[str, int, str]]:
    """The gateway over HTTP on a free port: handlers in this process one at a time ("thread"), or
    each function in a worker process of its own ("process", as `make dev` runs them)."""
    d = world.directory
    gateway = Gateway(
        TEMPLATE, issuer=d.issuer, jwks_url=d.jwks_url, audience=d.client_id, origins=(ORIGIN,),
        isolation=request.param,
    )  # fmt: skip
    server = make_server(gateway, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield (*server.server_address[:2], request.param)  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        gateway.close()


def post(
    address: tuple[str, int], path: str, body: Any, token: str | None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    conn = http.client.HTTPConnection(*address, timeout=60)
    headers = {"Origin": ORIGIN, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        response = conn.getresponse()
        found = {k.lower(): v for k, v in response.getheaders()}
        return response.status, found, json.loads(response.read())
    finally:
        conn.close()


def _me(email: str) -> Check:
    def check(status: int, envelope: dict[str, Any]) -> None:
        assert status == 200, envelope
        assert [row["email"] for row in envelope["body"]] == [email]

    return check


def _item(article: str) -> Check:
    def check(status: int, envelope: dict[str, Any]) -> None:
        assert status == 200, envelope
        assert [row["article_number"] for row in envelope["body"]] == [article]

    return check


def _login(username: str) -> Check:
    def check(status: int, envelope: dict[str, Any]) -> None:
        assert status == 200, envelope
        assert envelope["body"][0]["payload"]["username"] == username

    return check


def _malformed_login(status: int, envelope: dict[str, Any]) -> None:
    assert status == 400, envelope
    assert "password" in envelope["message"] + envelope["server_message"]


def _notes(contents: list[str]) -> Check:
    def check(status: int, envelope: dict[str, Any]) -> None:
        assert status == 201, envelope
        assert [[row["note_content"] for row in member] for member in envelope["body"]] == [
            [c] for c in contents
        ]

    return check


def requests_of(
    tokens: dict[str, str], articles: list[str], logins: bool
) -> list[tuple[str, Any, str | None, Check]]:
    """The front end's calls, mixed: (path, body, token, check of the answer). Successful logins
    only with `logins` (moto's Cognito is in this process, not in worker processes)."""
    mixed: list[tuple[str, Any, str | None, Check]] = []
    for n in range(REQUESTS):
        email = (ANNA, BO)[n % 2]
        token = tokens[email]
        article = articles[n % len(articles)]
        kind = n % 5
        if kind == 0:
            mixed.append(("/api", {}, token, _me(email)))
        elif kind == 1:
            body = {"model_name": "Item", "requested_data": ["id", "article_number"],
                    "query_filters": {"article_number": article}, "per_page": 60}  # fmt: skip
            mixed.append(("/api/schemes/get_items", body, token, _item(article)))
        elif kind == 2:
            contents = [f"note {n}-{i}" for i in range(3)]
            batch = [{"model_name": "Item_Note", "reference": c, "requested_data": ["note_content"],
                      "object_values": {"note_content": c}} for c in contents]  # fmt: skip
            mixed.append(("/api/schemes/create_items", batch, token, _notes(contents)))
        elif kind == 3 and n % 20 == 3 and logins:
            password = {ANNA: ANNA_PASSWORD, BO: BO_PASSWORD}[email]
            mixed.append(
                ("/api/login", {"email": email, "password": password}, None, _login(email.split("@")[0]))
            )
        else:
            mixed.append(("/api/login", {"email": email}, None, _malformed_login))
    return mixed


def test_a_few_hundred_mixed_parallel_requests_each_get_their_own_answer(
    world: World, served: tuple[str, int, str]
) -> None:
    """GIVEN two Buyers with tokens and twelve items WHEN 320 requests (who am I, a list read by
    article number, a batch of three notes, a login, a login without password) are sent by twelve
    client threads at once THEN each answer is the one its own request asks for, its envelope
    carries the request id of its own response, and exactly the notes sent were created."""
    for email, password in ((ANNA, ANNA_PASSWORD), (BO, BO_PASSWORD)):
        world.add_user(email, roles=[world.buyer_role], password=password)
    articles = [f"2512-{n:03d}" for n in range(12)]
    world.db.add(*(Item(article_number=a) for a in articles))
    tokens = {e: world.directory.id_token(e, p) for e, p in ((ANNA, ANNA_PASSWORD), (BO, BO_PASSWORD))}
    host, port, isolation = served
    mixed = requests_of(tokens, articles, logins=isolation == "thread")

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = list(pool.map(lambda r: post((host, port), r[0], r[1], r[2]), mixed))

    wrong = []
    for (path, body, _token, check), (status, headers, envelope) in zip(mixed, answers, strict=True):
        assert envelope["request_id"] == headers["x-amzn-requestid"], envelope
        try:
            check(status, envelope)
        except AssertionError as exc:
            wrong.append((path, body, status, envelope, str(exc)))
    assert wrong == [], wrong[:3]
    with Session(world.engine) as session:
        created = session.scalar(select(func.count()).select_from(Item_Note))
    assert created == 3 * sum(1 for n in range(REQUESTS) if n % 5 == 2)


BURST_CLIENTS = 32
BURST_EACH = 10


def test_a_burst_of_32_clients_loses_no_connection(world: World, served: tuple[str, int, str]) -> None:
    """GIVEN the gateway WHEN 32 clients, released together, each send 10 requests at once, each on
    a connection of its own (who am I, a small list read, a login without password) THEN no
    connection is refused or reset, and every request gets its answer (socketserver's listen
    backlog of 5 reset some)."""
    world.add_user(ANNA, roles=[world.buyer_role], password=ANNA_PASSWORD)
    world.db.add(Item(article_number="2512-001"))
    token = world.directory.id_token(ANNA, ANNA_PASSWORD)
    host, port, _ = served
    read = {"model_name": "Item", "requested_data": ["id"], "per_page": 5}
    calls: list[tuple[str, Any, str | None, int]] = [
        ("/api", {}, token, 200),
        ("/api/schemes/get_items", read, token, 200),
        ("/api/login", {"email": ANNA}, None, 400),
    ]
    barrier = threading.Barrier(BURST_CLIENTS, timeout=30)

    def client(n: int) -> list[str]:
        barrier.wait()
        problems = []
        for k in range(BURST_EACH):
            path, body, bearer, expected = calls[(n + k) % len(calls)]
            try:
                status, _, envelope = post((host, port), path, body, bearer)
            except OSError as exc:
                problems.append(f"{path}: {exc!r}")
                continue
            if status != expected:
                problems.append(f"{path}: {status} {envelope}")
        return problems

    with ThreadPoolExecutor(max_workers=BURST_CLIENTS) as pool:
        problems = [p for found in pool.map(client, range(BURST_CLIENTS)) for p in found]
    assert problems == [], (len(problems), problems[:5])
