"""Verify a Cognito ID token the way API Gateway's Cognito user pool authorizer does.

Used by the local gateway (devtools/gateway.py) and by handlers when VERIFY_TOKEN_IN_HANDLER is on
(`sam local start-api` skips Cognito authorizers). Checks: RS256 signature against the pool's JWKS
(fetched with urllib, cached per URL), `iss`, `exp`, `token_use` == "id", and `aud` when a client
id is given. The claims come back as API Gateway (REST) passes them to Lambda: every value a string,
`exp` and `iat` as dates ("Sun Apr 19 08:06:14 UTC 2020"; `auth_time` stays in epoch seconds).

`jwt` is imported inside the functions: this module is imported by handlers, and cold starts count.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

from dataapi.errors import Unauthenticated

_JWKS: dict[str, tuple[float, dict[str, Any]]] = {}  # url -> (fetched at, {kid: PyJWK})
_LOCK = threading.Lock()
_REFETCH_AFTER_S = 60.0  # an unknown kid refetches the set (key rotation), at most this often
_REQUIRED = ["exp", "iat", "iss", "sub", "token_use"]
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TokenRejected(Unauthenticated):
    """Missing, malformed, wrongly signed, expired or foreign token (API Gateway: UNAUTHORIZED)."""


class KeysUnavailable(TokenRejected):
    """The JWKS could not be fetched or read (API Gateway would answer AUTHORIZER_FAILURE)."""


def _reject(reason: str) -> TokenRejected:
    return TokenRejected("Your session has expired or is not valid. Please log in again.", detail=reason)


def _fetch_keys(url: str) -> dict[str, Any]:
    import jwt

    if not url.startswith(("http://", "https://")):
        raise KeysUnavailable("The sign-in keys are not configured.", detail="jwks url must be http(s)")
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            document = json.load(response)
        return {key.key_id: key for key in jwt.PyJWKSet.from_dict(document).keys if key.key_id}
    except (OSError, ValueError, jwt.PyJWTError) as exc:
        raise KeysUnavailable("The sign-in keys could not be loaded.", detail=type(exc).__name__) from None


def _signing_key(url: str, kid: str) -> Any:
    with _LOCK:
        cached = _JWKS.get(url)
    keys = cached[1] if cached else {}
    if cached is None or (kid not in keys and time.monotonic() - cached[0] > _REFETCH_AFTER_S):
        keys = _fetch_keys(url)
        with _LOCK:
            _JWKS[url] = (time.monotonic(), keys)
    if kid not in keys:
        raise _reject("unknown signing key")
    return keys[kid].key


def _as_string(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in ("exp", "iat") and isinstance(value, int | float):
        t = time.gmtime(value)
        clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        return f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} {clock} UTC {t.tm_year}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + " ".join(_as_string(name, v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def verify_id_token(token: str, *, issuer: str, jwks_url: str, audience: str | None) -> dict[str, str]:
    """The verified claims of a Cognito ID token ("Bearer <t>" or bare), all values strings.

    Raises TokenRejected (an Unauthenticated) on any failure.
    """
    import jwt

    raw = (token or "").strip()
    if raw[:7].lower() == "bearer ":
        raw = raw[7:].strip()
    if not raw:
        raise _reject("missing token")
    try:
        header = jwt.get_unverified_header(raw)
        if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise _reject("not an RS256 token with a key id")
        claims = jwt.decode(
            raw,
            key=_signing_key(jwks_url, header["kid"]),
            algorithms=["RS256"],
            issuer=issuer,
            audience=audience,
            options={"require": _REQUIRED, "verify_aud": audience is not None},
        )
    except jwt.PyJWTError as exc:
        raise _reject(type(exc).__name__) from None
    if claims.get("token_use") != "id":
        raise _reject("token_use is not id")
    return {name: _as_string(name, value) for name, value in claims.items()}
