"""Callers of the routes, as API Gateway's Cognito authorizer describes them to a handler.

A `Who` is a user of the seeded database (its row id, e-mail and Cognito subject; `roles` as the
tests expect them, for reading). `claims_of` gives the claims the authorizer passes for it: all
strings, `auth_time` in epoch seconds, `iat` and `exp` as dates.
"""

from __future__ import annotations

from dataclasses import dataclass

# `auth_time` of the event files: 2025-12-05 13:05:00 UTC.
AUTH_TIME = 1764939900


@dataclass(frozen=True)
class Who:
    name: str
    id: int
    email: str
    sub: str | None
    roles: tuple[str, ...] = ()


def claims_of(who: Who, **changes: str | None) -> dict[str, str]:
    """The claims API Gateway's Cognito authorizer passes for `who`: a change named `cognito_x`
    sets `cognito:x`, a `None` change drops a claim. A caller without a subject gets a new one."""
    sub = who.sub or f"policy-sub-{who.name}-new"
    claims = {
        "sub": sub,
        "email_verified": "true",
        "iss": "https://cognito-idp.eu-north-1.amazonaws.com/eu-north-1_Example01",
        "cognito:username": sub,
        "aud": "4example5client6id7abcdefgh",
        "token_use": "id",
        "auth_time": str(AUTH_TIME),
        "exp": "Fri Dec 05 21:45:00 UTC 2025",
        "iat": "Fri Dec 05 13:45:00 UTC 2025",
        "email": who.email.lower(),
    }
    for key, value in changes.items():
        key = key.replace("cognito_", "cognito:")
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims
