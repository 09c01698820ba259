"""IAM authentication tokens for RDS Proxy without boto3.

A token is a SigV4-presigned `connect` request to the `rds-db` service, valid 15 minutes, made
locally from the function's credentials; it is what botocore's `generate_db_auth_token` returns
(tests/unit/test_rdsauth.py compares the two). Importing boto3 and creating a client for it
would add about 0.15 s to the first request of every new container. Lambda hands the role's
credentials to the function in the environment; elsewhere (no credentials in the environment)
`token` answers None and the caller falls back to boto3.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import UTC, datetime
from urllib.parse import quote

EXPIRES_S = 900
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _enc(value: str) -> str:
    return quote(value, safe="-_.~")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def token(
    host: str,
    port: int,
    user: str,
    region: str,
    now: datetime | None = None,
    environ: dict[str, str] | None = None,
) -> str | None:
    env = os.environ if environ is None else environ
    key_id, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        return None
    session_token = env.get("AWS_SESSION_TOKEN")
    at = (now or datetime.now(UTC)).astimezone(UTC)
    stamp, day = at.strftime("%Y%m%dT%H%M%SZ"), at.strftime("%Y%m%d")
    scope = f"{day}/{region}/rds-db/aws4_request"
    signed_host = host if port == 443 else f"{host}:{port}"  # as HTTP would send the Host header
    params = [("Action", "connect"), ("DBUser", user)]
    auth = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{key_id}/{scope}"),
        ("X-Amz-Date", stamp),
        ("X-Amz-Expires", str(EXPIRES_S)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if session_token:
        auth.append(("X-Amz-Security-Token", session_token))
    encoded = [(_enc(k), _enc(v)) for k, v in params + auth]
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(encoded))
    canonical = f"GET\n/\n{canonical_query}\nhost:{signed_host}\n\nhost\n{_EMPTY_SHA256}"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), day), region), "rds-db"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    query = "&".join(f"{k}={v}" for k, v in encoded)
    return f"{host}:{port}/?{query}&X-Amz-Signature={signature}"
