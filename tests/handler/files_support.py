"""Callers and calls of the file-route tests (test_files.py, test_frontend_files.py, test_policy_refusal_status.py).

A `Person` is a caller known by its Cognito subject and e-mail; `load_event` builds the event a
route receives with that caller's claims, `invoke` runs the handler and checks the envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.handler import support
from tests.handler.support import CALLER_EMAIL, CALLER_SUB, Reply


@dataclass(frozen=True)
class Person:
    sub: str
    email: str
    user_id: int = 0

    @property
    def claims(self) -> dict[str, str]:
        """The claims as API Gateway's Cognito authorizer passes them (all strings)."""
        return support.claims_for(self.sub, self.email)


ADMIN = Person(CALLER_SUB, CALLER_EMAIL)


def load_event(path: str, body: Any, caller: Person | None = ADMIN) -> dict[str, Any]:
    """An event for `path` sending `body` with the claims of `caller` (None: no authorizer)."""
    return support.event(path, body, claims=None if caller is None else caller.claims)


def invoke(event: dict[str, Any], function: str = "files") -> Reply:
    """Invoke a handler and check the envelope every response must have (docs/contract.md §2)."""
    return support.invoke(function, event)
