"""dataapi.tracing: X-Ray subsegments sent to a daemon address (a real UDP socket here), and
handlers that import neither the X-Ray SDK nor boto3."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataapi.tracing import TraceContext, Tracer, trace_context

ROOT = Path(__file__).resolve().parents[2]
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{sock.getsockname()[1]}")
    yield sock
    sock.close()


def received(sock: socket.socket) -> dict[str, Any]:
    data = sock.recv(65536)
    header, _, body = data.partition(b"\n")
    assert json.loads(header) == {"format": "json", "version": 1}
    return json.loads(body)


def test_the_trace_header_is_read_only_when_sampled() -> None:
    assert trace_context(TRACE) == TraceContext("1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8")
    assert trace_context(TRACE.replace("Sampled=1", "Sampled=0")) is None
    assert trace_context("Root=1-5759e988-bd862e3fe1be46a994272793") is None
    assert trace_context(None) is None


def test_a_sampled_invocation_sends_nested_subsegments(
    daemon: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a sampled trace header
    WHEN a decorated handler calls a decorated method, twice
    THEN each call is a subsegment under the invocation's segment, the method's under the
    handler's, with ColdStart true on the first invocation only."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    tracer = Tracer(service="svc")

    @tracer.capture_method
    def route() -> str:
        return "ok"

    @tracer.capture_lambda_handler
    def lambda_handler(event: dict, context: object) -> str:
        return route()

    assert lambda_handler({}, None) == "ok"
    method, handler = received(daemon), received(daemon)
    assert handler["name"] == "## lambda_handler" and method["name"].endswith("route")
    assert handler["trace_id"] == method["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert handler["parent_id"] == "53995c3f42cd8ad8" and method["parent_id"] == handler["id"]
    assert handler["type"] == method["type"] == "subsegment"
    assert handler["annotations"] == {"ColdStart": True, "Service": "svc"}
    assert handler["start_time"] <= method["start_time"] <= method["end_time"] <= handler["end_time"]

    lambda_handler({}, None)
    received(daemon)
    assert received(daemon)["annotations"]["ColdStart"] is False


def test_a_failed_call_is_a_fault_and_still_raises(
    daemon: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    tracer = Tracer(service="svc")

    @tracer.capture_lambda_handler
    def lambda_handler(event: dict, context: object) -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        lambda_handler({}, None)
    doc = received(daemon)
    assert doc["fault"] is True
    assert doc["cause"]["exceptions"][0]["type"] == "KeyError"


def test_an_unsampled_invocation_sends_nothing(
    daemon: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracer = Tracer(service="svc")

    @tracer.capture_lambda_handler
    def lambda_handler(event: dict, context: object) -> str:
        return "ok"

    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE.replace("Sampled=1", "Sampled=0"))
    lambda_handler({}, None)
    monkeypatch.delenv("_X_AMZN_TRACE_ID")
    lambda_handler({}, None)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    lambda_handler({}, None)
    assert received(daemon)["annotations"]["ColdStart"] is False  # the first one sent is the third call


def test_an_unreachable_daemon_does_not_fail_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "not-an-address")
    tracer = Tracer(service="svc")
    assert tracer.capture_method(lambda: 7)() == 7


@pytest.mark.parametrize(
    "function", ["get_items", "create_items", "update_items", "delete_items", "session", "files"]
)
def test_handlers_import_neither_the_xray_sdk_nor_boto3(function: str) -> None:
    code = (
        "import sys, app; "
        "print(sorted(m for m in ('aws_xray_sdk', 'boto3', 'botocore.session', 'botocore.client') if m in sys.modules))"
    )
    env_paths = f"{ROOT / 'layers' / 'engine'}:{ROOT / 'functions' / function}"
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_paths, "PATH": "/usr/bin:/bin", "AWS_REGION": "eu-north-1"},
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
