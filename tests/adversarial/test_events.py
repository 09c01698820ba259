"""Events API Gateway never sends are answered in the envelope, never with a 500 or a raise; and a
request event is never run as a scheduled update, whatever it lacks.

Lambda can be invoked directly (the console, a misconfigured integration, an attacker with
lambda:InvokeFunction), so every handler meets events of any shape.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.adversarial.support import ROUTES, World, event_for
from tests.handler import support

BODY = {"model_name": "Item", "requested_data": ["id"]}


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda event: event.pop(key)


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        node = event
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


CLAIMS = ("requestContext", "authorizer", "claims")
MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], None], int, str]] = {
    "no path": (_without("path"), 400, "MalformedEvent"),
    "no httpMethod": (_without("httpMethod"), 400, "MalformedEvent"),
    "body an object": (_set(("body",), BODY), 400, "MalformedEvent"),
    "headers a list": (_set(("headers",), ["Content-Type"]), 400, "MalformedEvent"),
    "requestContext a string": (_set(("requestContext",), "x"), 400, "MalformedEvent"),
    "authorizer a string": (_set(("requestContext", "authorizer"), "x"), 401, "MalformedClaims"),
    "claims a list": (_set(CLAIMS, ["sub"]), 401, "MalformedClaims"),
    "sub a number": (_set((*CLAIMS, "sub"), 5), 401, "MalformedClaims"),
    "email a number": (_set((*CLAIMS, "email"), 5), 401, "MalformedClaims"),
    "email_verified a boolean": (_set((*CLAIMS, "email_verified"), True), 401, "MalformedClaims"),
}


@pytest.mark.parametrize(
    "route", ["get_items", "create_items", "update_items", "delete_items", "me", "presign"]
)
@pytest.mark.parametrize("case", list(MALFORMED))
def test_an_event_api_gateway_never_sends_is_answered_in_the_envelope(
    world: World, route: str, case: str
) -> None:
    """GIVEN a request event broken in one way API Gateway never breaks it WHEN any function gets it
    THEN 400 (a malformed event) or 401 (malformed claims) in the envelope, nothing raised."""
    change, status, detail = MALFORMED[case]
    event = copy.deepcopy(event_for(route, BODY, support.base_claims()))
    change(event)

    response = support.raw_invoke(ROUTES[route][0], event)

    assert response["statusCode"] == status, response
    envelope = json.loads(response["body"])
    support.check_envelope(envelope, status, {"request_id"})
    assert envelope["server_message"].endswith(detail), envelope


def test_a_request_event_without_request_context_is_not_a_scheduled_run(world: World) -> None:
    """GIVEN an update request sent as an API Gateway event without requestContext WHEN the update
    function gets it THEN it is a request without a caller (401), not an update run as the scheduler."""
    update = {"model_name": "Item", "query_filters": {"id": 1}, "update_type": "first_match",
              "object_values": {"location": "moved by nobody"}}  # fmt: skip
    event = event_for("update_items", update, support.base_claims())
    del event["requestContext"]

    response = support.raw_invoke("update_items", event)

    assert response["statusCode"] == 401, response
    assert world.scalar('SELECT location FROM "Item" WHERE id = 1') != "moved by nobody"
