"""The local gateway runs each function in several workers, as Lambda runs parallel containers.

A copy of the real template whose only function sleeps half a second and answers its process id
and when it ran; parallel requests to it then run in parallel, in different workers, up to the
limit (DEV_WORKERS_PER_FUNCTION), and wait beyond it.
"""

from __future__ import annotations

import http.client
import json
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.gateway import WORKERS_ENV, Gateway, from_environment, make_server
from devtools.template import TEMPLATE, load_template

SLOW = """
import json, os, time


def lambda_handler(event, context):
    start = time.time()
    time.sleep(0.5)
    return {"statusCode": 200, "body": json.dumps({"pid": os.getpid(), "start": start, "end": time.time()})}
"""


@pytest.fixture(scope="module")
def slow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("slow")
    (root / "functions" / "slow").mkdir(parents=True)
    (root / "functions" / "slow" / "app.py").write_text(textwrap.dedent(SLOW))
    template = load_template(TEMPLATE)
    resources = {k: v for k, v in template["Resources"].items() if v["Type"] != "AWS::Serverless::Function"}
    event = {
        "RestApiId": {"Ref": "Api"},
        "Path": "/api/slow",
        "Method": "POST",
        "Auth": {"Authorizer": "NONE"},
    }
    resources["SlowFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": "functions/slow/",
            "Handler": "app.lambda_handler",
            "Timeout": 10,
            "Events": {"Route": {"Type": "Api", "Properties": event}},
        },
    }
    template["Resources"] = resources
    path = root / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


@contextmanager
def serving(gateway: Gateway) -> Iterator[tuple[str, int]]:
    """The gateway on a free port of 127.0.0.1; its workers stopped after."""
    server = make_server(gateway, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        gateway.close()


def _runs(address: tuple[str, int], n: int) -> list[dict[str, Any]]:
    """`n` requests at once; what each worker said (its pid, when it started and ended)."""

    def one(_: int) -> dict[str, Any]:
        conn = http.client.HTTPConnection(*address, timeout=60)
        try:
            conn.request("POST", "/api/slow", body=b"{}", headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            assert response.status == 200
            return json.loads(response.read())
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def _most_at_once(runs: list[dict[str, Any]]) -> int:
    events = sorted([(r["start"], 1) for r in runs] + [(r["end"], -1) for r in runs])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def test_parallel_requests_to_one_function_run_in_parallel_workers(slow_template: Path) -> None:
    """GIVEN the gateway with 4 workers per function WHEN 4 requests to one function arrive at once
    (after 4 more that started the workers) THEN they run at the same time, in 4 processes."""
    with serving(Gateway(slow_template, isolation="process", workers_per_function=4)) as address:
        _runs(address, 4)
        runs = _runs(address, 4)
    assert len({r["pid"] for r in runs}) == 4, runs
    assert max(r["start"] for r in runs) < min(r["end"] for r in runs), runs


def test_requests_beyond_the_workers_wait_for_one(slow_template: Path) -> None:
    """GIVEN 2 workers per function WHEN 5 requests arrive at once THEN all are answered, by at
    most 2 processes, never more than 2 at a time."""
    with serving(Gateway(slow_template, isolation="process", workers_per_function=2)) as address:
        runs = _runs(address, 5)
    assert len(runs) == 5
    assert len({r["pid"] for r in runs}) <= 2, runs
    assert _most_at_once(runs) <= 2, runs


def test_the_number_of_workers_is_a_setting(slow_template: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert from_environment(slow_template).workers_per_function == 4
    monkeypatch.setenv(WORKERS_ENV, "7")
    assert from_environment(slow_template).workers_per_function == 7
    for wrong in ("0", "four"):
        monkeypatch.setenv(WORKERS_ENV, wrong)
        with pytest.raises(ValueError, match=WORKERS_ENV):
            from_environment(slow_template)
