"""X-Ray subsegments for the handlers without the X-Ray SDK on the import path.

Powertools' Tracer imports the X-Ray SDK and botocore when it is created (about 0.2 s of every
cold start). With `Tracing: Active` Lambda itself records each invocation's segment; this tracer
adds what the handlers ask for, a subsegment per decorated call (`## <name>`, with the
`ColdStart` and `Service` annotations and the exception of a failed call), sent as the SDK sends
them: one UDP datagram per subsegment to the X-Ray daemon (AWS_XRAY_DAEMON_ADDRESS) under the
invocation's trace header (_X_AMZN_TRACE_ID). Outside Lambda, or when the request is not
sampled, nothing is sent. Sending never fails a request.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
HEADER = b'{"format": "json", "version": 1}\n'


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str
    parent_id: str


def trace_context(header: str | None) -> TraceContext | None:
    """The trace of a sampled trace header `Root=...;Parent=...;Sampled=1`, else None."""
    if not header:
        return None
    parts = dict(p.split("=", 1) for p in header.split(";") if "=" in p)
    if parts.get("Sampled") != "1" or not parts.get("Root") or not parts.get("Parent"):
        return None
    return TraceContext(parts["Root"], parts["Parent"])


class Tracer:
    def __init__(self, service: str) -> None:
        self.service = service
        self._cold = True
        self._stack: list[str] = []  # ids of the open subsegments (one invocation at a time)
        self._sock: socket.socket | None = None

    def capture_lambda_handler(self, fn: F) -> F:
        @functools.wraps(fn)
        def handler(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            cold, self._cold = self._cold, False
            annotations = {"ColdStart": cold, "Service": self.service}
            return self._traced(f"## {fn.__name__}", annotations, fn, event, context, *args, **kwargs)

        return handler  # type: ignore[return-value]

    def capture_method(self, fn: F) -> F:
        @functools.wraps(fn)
        def method(*args: Any, **kwargs: Any) -> Any:
            return self._traced(f"## {fn.__qualname__}", {}, fn, *args, **kwargs)

        return method  # type: ignore[return-value]

    def _traced(
        self, name: str, annotations: dict[str, Any], fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        trace = trace_context(os.environ.get("_X_AMZN_TRACE_ID"))
        if trace is None:
            return fn(*args, **kwargs)
        doc: dict[str, Any] = {
            "name": name,
            "id": secrets.token_hex(8),
            "trace_id": trace.trace_id,
            "parent_id": self._stack[-1] if self._stack else trace.parent_id,
            "type": "subsegment",
            "start_time": time.time(),
        }
        if annotations:
            doc["annotations"] = annotations
        self._stack.append(doc["id"])
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            doc["fault"] = True
            doc["cause"] = {
                "exceptions": [{"id": secrets.token_hex(8), "type": type(exc).__name__, "message": str(exc)}]
            }
            raise
        finally:
            self._stack.pop()
            doc["end_time"] = time.time()
            self._send(doc)

    def forget_socket(self) -> None:
        """Close the socket to the daemon; the next subsegment opens another (after a SnapStart restore)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _send(self, doc: dict[str, Any]) -> None:
        host, _, port = os.environ.get("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000").rpartition(":")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.sendto(HEADER + json.dumps(doc, default=str).encode(), (host, int(port)))
        except (OSError, ValueError):
            pass  # tracing is best effort: a lost subsegment must not fail the request
