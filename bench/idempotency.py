"""What an Idempotency-Key costs a create (docs/contract.md §4.6): round trips, statements and time
of a keyed create against the same create without a key, in this run.

The claim travels in the query that begins the transaction and the answer's store carries the
COMMIT, so the target is at most one trip more than the unkeyed create (issue 22). Each keyed
request sends a new key (a repeated key would be a replay); the replay's own trips are shown too.
Both sides build their event per request, alike.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from bench.harness import TRIPS, Context, Statements, api_event, paired_medians
from bench.reads import load_handler

CREATE = "/api/schemes/create_items"
BODY = {"model_name": "Item_Note", "object_values": {"note_content": "keyed"}, "requested_data": ["id"]}
PROXY_S = 0.001  # RDS Proxy's cost per trip, as in bench/trips.py


def _sender(handler: Any, key: Callable[[], str | None]) -> Callable[[], dict[str, Any]]:
    def send() -> dict[str, Any]:
        event = api_event(CREATE, BODY)
        sent = key()
        if sent is not None:
            event["headers"]["Idempotency-Key"] = sent
        response = handler(event, Context(aws_request_id=str(uuid.uuid4())))
        if response["statusCode"] >= 300:
            raise RuntimeError(f"bench request failed: {response['body'][:300]}")
        return response

    return send


def _counted(send: Callable[[], dict[str, Any]]) -> tuple[int, int, dict[str, Any]]:
    with Statements() as counted, TRIPS.measure() as trips:
        response = send()
    return trips[0], len(counted.seen), response


def run(runs: int) -> list[tuple[str, str, str]]:
    handler = load_handler("create_items")
    unkeyed = _sender(handler, lambda: None)
    keyed = _sender(handler, lambda: str(uuid.uuid4()))
    unkeyed(), keyed()  # warm
    plain_trips, plain_statements, _ = _counted(unkeyed)
    key = str(uuid.uuid4())
    first = _sender(handler, lambda: key)
    keyed_trips, keyed_statements, answer = _counted(first)
    replay_trips, replay_statements, replayed = _counted(first)
    headers = {**(replayed.get("multiValueHeaders") or {}), **(replayed.get("headers") or {})}
    assert headers.get("Idempotent-Replayed") in ("true", ["true"]), "the second request must be a replay"
    assert json.loads(replayed["body"])["body"] == json.loads(answer["body"])["body"]
    more = keyed_trips - plain_trips
    ours, base = paired_medians(keyed, unkeyed, runs)
    with TRIPS.latency(PROXY_S):
        ours_proxy, base_proxy = paired_medians(keyed, unkeyed, max(5, runs // 2))
    return [
        (
            "create_items one note, Idempotency-Key vs none",
            f"keyed {keyed_trips} round trips, {keyed_statements} statements; unkeyed {plain_trips} trips,"
            f" {plain_statements} statements ({more:+d} trips; target <= +1); replay {replay_trips} trips,"
            f" {replay_statements} statement(s)",
            f"median {ours:.2f} ms keyed vs {base:.2f} ms unkeyed = {ours / base:.2f}x",
        ),
        (
            f"the same, {PROXY_S * 1000:.0f} ms added per round trip (RDS Proxy)",
            "both sides as above",
            f"median {ours_proxy:.2f} ms keyed vs {base_proxy:.2f} ms unkeyed = {ours_proxy / base_proxy:.2f}x",
        ),
    ]
